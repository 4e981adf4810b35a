"""Lightweight networks from ``tf_keras.applications`` (``weights=None``) and ResNet50 as a heavy
reference. Params: ``input_size`` (square RGB images), ``alpha`` (width multiplier), ``classes``."""

from __future__ import annotations

DEFAULT_INPUT_SIZE = 224
DEFAULT_CLASSES = 1000


def _common(params: dict) -> dict:
    size = params.get("input_size") or DEFAULT_INPUT_SIZE
    return {"input_shape": (size, size, 3), "weights": None, "classes": params.get("classes") or DEFAULT_CLASSES}


def _build(name: str, params: dict, alpha: bool = True):
    import tf_keras as keras

    kwargs = _common(params)
    if alpha:
        kwargs["alpha"] = params.get("alpha") or 1.0
    return getattr(keras.applications, name)(**kwargs)


def build_mobilenet_v1(params: dict):
    return _build("MobileNet", params)


def build_mobilenet_v2(params: dict):
    return _build("MobileNetV2", params)


def build_mobilenet_v3_small(params: dict):
    return _build("MobileNetV3Small", params)


def build_mobilenet_v3_large(params: dict):
    return _build("MobileNetV3Large", params)


def build_resnet50(params: dict):
    return _build("ResNet50", params, alpha=False)
