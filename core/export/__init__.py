"""Export trained models, reopen them, fine-tune them, and bring existing PyTorch models in.

    from layerloom.core.export import export, load_bundle, load_weights, import_python_model
    result = export("runs/lenet5-20250101-120000", "onnx", "lenet5.onnx")
    print(result.summary())   # onnx: …/lenet5.onnx — largest difference from the live model 2.4e-07 (limit 0.0001)

Formats: bundle (.layerloom), onnx, torchscript (.pt), torch-export (.pt2), python (model.py +
model.safetensors), safetensors. Every export is checked against the live model on a sample batch; above
1e-4 it fails with the figure. Names are imported on first use (torch is imported only then).
"""

from __future__ import annotations

_EXPORTS = {
    "FORMATS": "base",
    "DESCRIPTIONS": "base",
    "ExportError": "base",
    "ExportResult": "base",
    "ParityError": "base",
    "ModelImportError": "base",
    "TOLERANCE": "base",
    "Source": "source",
    "source_from": "source",
    "latest_run": "reading",
    "open_source": "reading",
    "read_weights": "reading",
    "Bundle": "bundle",
    "BundleError": "bundle",
    "bundle_to_run_folder": "bundle",
    "is_bundle": "bundle",
    "load_bundle": "bundle",
    "save_bundle": "bundle",
    "default_path": "exporter",
    "export": "exporter",
    "ImportResult": "importer",
    "import_program": "importer",
    "import_python_model": "importer",
    "list_module_classes": "importer",
    "WeightsError": "weights",
    "WeightsReport": "weights",
    "apply_weights": "weights",
    "load_weights": "weights",
    "match_weights": "weights",
    "load_program": "torch_export",
    "generate_source": "python_source",
}

from layerloom.core.lazy import lazy_exports  # noqa: E402

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
