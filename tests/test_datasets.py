"""Datasets: IDX and npz readers, the offline path, compatibility; models: the registry."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from benchharness.datasets import DEBIAN_FASHION_MNIST, check_dataset_name, compatibility_problem, idx, npz, resolve
from benchharness.datasets.loaders import DatasetUnavailable, load_dataset, load_keras_dataset, prepare_images

needs_debian_fashion_mnist = pytest.mark.skipif(
    not DEBIAN_FASHION_MNIST.is_dir(), reason="apt-get install dataset-fashion-mnist (.ci/run installs it)")


def write_idx(path, array: np.ndarray, gz: bool):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)


@pytest.fixture
def idx_dir(tmp_path):
    rng = np.random.default_rng(0)
    for split, n, gz in (("train", 50, True), ("t10k", 20, False)):
        write_idx(tmp_path / f"{split}-images-idx3-ubyte{'.gz' if gz else ''}", rng.integers(0, 256, (n, 6, 5)), gz)
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte{'.gz' if gz else ''}", np.arange(n) % 4, gz)
    return tmp_path


def test_idx_reader_gzipped_or_not(idx_dir):
    arrays = idx.load(idx_dir)
    assert arrays["x_train"].shape == (50, 6, 5) and arrays["x_test"].shape == (20, 6, 5)
    assert list(arrays["y_train"][:5]) == [0, 1, 2, 3, 0]
    assert idx.describe(idx_dir) == ((6, 5), 4, 50)
    assert resolve(f"idx:{idx_dir}").sample_shape == (6, 5)


def test_idx_errors_name_the_file(idx_dir):
    (idx_dir / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(idx.IdxError, match="lacks t10k-labels-idx"):
        idx.find_files(idx_dir)
    bad = idx_dir / "junk"
    bad.write_bytes(b"\x12\x34\x56\x78")
    with pytest.raises(idx.IdxError, match="junk is not an IDX file"):
        idx.read_header(bad)


# -- truncated and corrupt files: one line naming the file (a UserError: exit 2 at validation) -----

def _truncate(path, keep):
    path.write_bytes(path.read_bytes()[:keep])


def _flip(path, at):
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage, file, message", [
    (lambda p: _truncate(p, 7), "t10k-images-idx3-ubyte",
     "{p} is truncated: its header needs 16 bytes, the file has 7"),
    (lambda p: _truncate(p, 2), "t10k-images-idx3-ubyte", "{p} is truncated: 2 bytes, shorter than an IDX header"),
    (lambda p: _truncate(p, 600), "t10k-images-idx3-ubyte",
     "{p} is truncated: 584 bytes of data, its header (20x6x5 of uint8) needs 600"),
    (lambda p: p.write_bytes(p.read_bytes() + b"xx"), "t10k-labels-idx1-ubyte",
     "{p} has 2 bytes more than its header (20 of uint8) describes"),
    (lambda p: _truncate(p, len(p.read_bytes()) - 12), "train-labels-idx1-ubyte.gz",
     "{p} is truncated: its gzip stream ends early"),
    (lambda p: _truncate(p, len(p.read_bytes()) - 30), "train-images-idx3-ubyte.gz",
     "{p} is truncated: its gzip stream ends early"),
    (lambda p: p.write_bytes(gzip.compress(gzip.decompress(p.read_bytes())[:9])), "train-images-idx3-ubyte.gz",
     "{p} is truncated: its header needs 16 bytes, the file has 9"),
    (lambda p: _flip(p, len(p.read_bytes()) - 6), "train-labels-idx1-ubyte.gz", "{p} is corrupt: CRC check failed"),
])
def test_a_damaged_idx_file_is_one_line_naming_it(idx_dir, damage, file, message):
    from benchharness.errors import UserError

    path = idx_dir / file
    damage(path)
    expected = message.format(p=path)
    for read in (lambda: idx.describe(idx_dir), lambda: idx.load(idx_dir)):  # validation, then the worker
        with pytest.raises(UserError) as caught:
            read()
        (line,) = caught.value.lines
        assert line.startswith(expected) and "\n" not in line
    assert compatibility_problem("tutorial_cnn", f"idx:{idx_dir}") is None  # reported once, by the name check
    assert check_dataset_name(f"idx:{idx_dir}").startswith(f"dataset 'idx:{idx_dir}': {expected}")


def test_idx_labels_that_do_not_match_the_images_are_refused(idx_dir):
    write_idx(idx_dir / "t10k-labels-idx1-ubyte", np.arange(19) % 4, gz=False)
    with pytest.raises(idx.IdxError) as caught:
        idx.describe(idx_dir)
    assert str(caught.value) == f"{idx_dir / 't10k-labels-idx1-ubyte'} holds 19 labels for the 20 images of t10k-images-idx3-ubyte"


def test_a_damaged_idx_dataset_is_refused_by_validate_in_one_line(idx_dir, tmp_path):
    import subprocess
    import sys

    path = idx_dir / "train-images-idx3-ubyte.gz"
    _truncate(path, len(path.read_bytes()) - 30)
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"name: idx\ndefaults:\n  dataset: \"idx:{idx_dir}\"\n")
    result = subprocess.run([sys.executable, "-m", "benchharness", "validate", str(scenario)],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"{scenario}:3: defaults.dataset: dataset 'idx:{idx_dir}': {path} is truncated: its gzip stream ends early"]


def _npz(path, compressed=False):
    save = np.savez_compressed if compressed else np.savez
    rng = np.random.default_rng(0)
    save(path, x_train=rng.integers(0, 255, (80, 28, 28)).astype(np.uint8), y_train=np.arange(80),
         x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.arange(2))
    return path


@pytest.mark.parametrize("compressed", [False, True])
def test_a_damaged_npz_is_one_line_naming_it(tmp_path, compressed):
    from benchharness.errors import UserError

    truncated = _npz(tmp_path / "t.npz", compressed)
    _truncate(truncated, len(truncated.read_bytes()) // 2)
    flipped = _npz(tmp_path / "f.npz", compressed)
    _flip(flipped, 400)  # inside x_train's data
    for path, message in ((truncated, f"{truncated} is not an .npz archive (File is not a zip file)"),
                          (flipped, f"{flipped} (x_train.npy) is corrupt: ")):
        for read in (lambda: npz.array_shapes(path), lambda: npz.load(path)):  # validation, then the worker
            with pytest.raises(UserError) as caught:
                read()
            (line,) = caught.value.lines
            assert line.startswith(message) and "\n" not in line, line
        assert check_dataset_name(f"npz:{path}").startswith(f"dataset 'npz:{path}': {message}")


def test_an_npz_of_pickled_objects_or_a_wrong_size_is_refused(tmp_path):
    import zipfile

    path = tmp_path / "o.npz"
    np.savez(path, x_train=np.array([{"a": 1}], dtype=object), y_train=np.arange(1), x_test=np.zeros((1, 2)),
             y_test=np.arange(1))
    with pytest.raises(npz.NpzError, match=r"o.npz \(x_train.npy\) holds Python objects"):
        npz.array_shapes(path)
    good = _npz(tmp_path / "g.npz")
    short = tmp_path / "s.npz"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(short, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info.filename, data[:-100] if info.filename == "x_train.npy" else data)
    with pytest.raises(npz.NpzError, match=r"s.npz \(x_train.npy\) is truncated: 62,748 bytes, its header \(80x28x28 of uint8\) needs 62,848"):
        npz.array_shapes(short)


def test_npz_shapes_without_loading_and_loading(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x_train=np.zeros((8, 28, 28), np.uint8), y_train=np.arange(8), x_test=np.zeros((2, 28, 28)),
             y_test=np.arange(2))
    assert npz.array_shapes(path)["x_train"] == (8, 28, 28)
    assert resolve(f"npz:{path}").sample_shape == (28, 28)
    assert npz.load(path)["y_test"].tolist() == [0, 1]
    np.savez(tmp_path / "partial.npz", x_train=np.zeros(3))
    with pytest.raises(npz.NpzError, match="has no array 'y_train'"):
        npz.array_shapes(tmp_path / "partial.npz")


def test_npz_dataset_loads_shaped_for_the_model(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x_train=np.full((8, 28, 28), 255, np.uint8), y_train=np.arange(8) % 10,
             x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.array([[1], [2]]))
    data = load_dataset(f"npz:{path}", {"samples_per_epoch": 5, "seed": 0}, (28, 28, 1), "image", 10, 0)
    assert data.x_train.shape == (5, 28, 28, 1) and data.x_train.dtype == np.float32 and data.x_train.max() == 1.0
    assert data.y_test.tolist() == [1, 2] and data.y_test.dtype == np.int32


def test_synthetic_has_no_test_split():
    data = load_dataset("synthetic", {"samples_per_epoch": 16, "seed": 1}, (28, 28), "image", 10, 0)
    assert data.x_train.shape == (16, 28, 28) and data.x_test is None


def test_prepare_images_refuses_a_wrong_shape():
    with pytest.raises(ValueError, match=r"samples are \(32, 32, 3\), the model takes \(28, 28\)"):
        prepare_images(np.zeros((2, 32, 32, 3)), (28, 28))


def test_offline_without_a_cached_copy_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    import benchharness.datasets.loaders as loaders

    def offline(name, params):
        raise OSError("URL fetch failure: [Errno -2] Name or service not known")

    monkeypatch.setattr(loaders, "_keras_load", offline)
    with pytest.raises(DatasetUnavailable) as caught:
        load_keras_dataset("mnist", {})
    message = str(caught.value)
    assert "\n" not in message
    assert message == (f"dataset 'mnist': {tmp_path}/keras/datasets/mnist.npz is missing and the download failed "
                       f"(OSError); put mnist.npz in {tmp_path}/keras/datasets, or use a dataset that works offline: "
                       "synthetic, fashion_mnist (Debian package dataset-fashion-mnist), idx:DIR or npz:PATH")


@pytest.mark.slow
def test_real_download_path_fails_clearly_offline(tmp_path, monkeypatch):
    """The product keeps tf_keras's real download; on a machine without internet it must fail in one line."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    try:
        load_keras_dataset("mnist", {})
    except DatasetUnavailable as exc:
        assert "mnist.npz is missing and the download failed" in str(exc) and "\n" not in str(exc)
    else:
        pytest.skip("this machine can reach the dataset host; the offline path was not exercised")


@needs_debian_fashion_mnist
def test_fashion_mnist_loads_from_the_debian_package():
    data = load_dataset("fashion_mnist", {"samples_per_epoch": 1000, "seed": 0}, (28, 28), "image", 10, 0)
    assert data.x_train.shape == (1000, 28, 28) and data.x_test.shape == (10000, 28, 28)
    assert 0.0 <= data.x_train.min() and data.x_train.max() == 1.0
    assert sorted(set(data.y_test.tolist())) == list(range(10))


@pytest.mark.parametrize("model, dataset, problem", [
    ("tutorial_cnn", "fashion_mnist", None),
    ("mnist_cnn", "mnist", None),
    ("imdb_lstm", "imdb", None),
    ("imdb_lstm", "synthetic", None),
    ("tests/helpers/models.py:tiny_mlp", "cifar10", None),  # user models are checked when built
    ("imdb_lstm", "mnist", "model 'imdb_lstm' takes token sequences; dataset 'mnist' holds images"),
    ("tutorial_cnn", "imdb", "model 'tutorial_cnn' takes images; dataset 'imdb' holds token sequences"),
    ("tutorial_cnn", "cifar10", "model 'tutorial_cnn' takes 28x28 inputs; dataset 'cifar10' has 32x32x3"),
])
def test_compatibility(model, dataset, problem):
    assert compatibility_problem(model, dataset) == problem


def test_class_count_mismatch(idx_dir):
    assert compatibility_problem("tutorial_cnn", f"idx:{idx_dir}") == (
        f"model 'tutorial_cnn' predicts 10 classes; dataset 'idx:{idx_dir}' has 4")


@pytest.fixture(scope="module")
def keras():
    from benchharness.worker import device as worker_device

    worker_device.import_tensorflow()
    return worker_device.import_keras()


def test_registry_parameter_counts(keras):
    from benchharness.models import MODELS, resolve_builder

    counts = {name: resolve_builder(name)({}).count_params() for name in MODELS}
    assert counts["tutorial_cnn"] == 20_410
    assert counts["mnist_cnn"] == 3_274_762
    assert counts["imdb_lstm"] == 20_000 * 128 + 4 * (128 * 128 + 128 * 128 + 128) + 129
    small = resolve_builder("imdb_lstm")({"num_words": 1000, "maxlen": 50})
    assert small.input_shape == (None, 50) and small.layers[0].input_dim == 1000


def test_keras3_model_is_refused_with_the_reason(keras):
    from benchharness.worker import model as worker_model

    with pytest.raises(TypeError, match="a Keras 3 model: tfmot needs tf_keras"):
        worker_model.build_model(keras, {"model": "tests/helpers/models.py:keras3_model"})
