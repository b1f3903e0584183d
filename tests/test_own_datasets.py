"""Datasets from outside the package (docs/own-dataset.md): each format, written here from real small data, runs
through `autoal bench`; bad files stop the sweep in one line before anything is written; the content is part of
the job identity, the path is not."""

from __future__ import annotations

import csv
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from alscope_autoal.cli.app import app
from alscope_autoal.data import load_digits
from alscope_autoal.errors import UserError
from alscope_autoal.results import read_metadata, read_results

runner = CliRunner()
SMOKE = ["bench", "--profile", "smoke", "--strategies", "random,margin"]


def digits_splits() -> dict[str, np.ndarray]:
    """scikit-learn's digits as the package splits them: uint8 8x8 images, labels 0-9."""
    data = load_digits(Path("."))
    return {"x_train": data.train_x[:, 0].numpy(), "y_train": data.train_y.numpy(),
            "x_test": data.test_x[:, 0].numpy(), "y_test": data.test_y.numpy()}


def write_npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory) -> Path:
    return write_npz(tmp_path_factory.mktemp("own") / "scans.npz", **digits_splits())


def write_tree(root: Path, colour: bool = False, per_split: int = 150) -> Path:
    """Digits as PNGs in train/<class>/ and test/<class>/; `colour`: RGB 10x12 (H x W) images."""
    arrays = digits_splits()
    for split in ("train", "test"):
        for index, (image, label) in enumerate(zip(arrays[f"x_{split}"][:per_split], arrays[f"y_{split}"])):
            folder = root / split / f"digit-{label}"
            folder.mkdir(parents=True, exist_ok=True)
            picture = Image.fromarray(image)
            if colour:
                picture = Image.fromarray(np.stack([image, image // 2, 255 - image], -1)).resize((12, 10))
            picture.save(folder / f"{index}.png")
    return root


def invoke(args: list[str]):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result, expected: str) -> None:
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], result.output


def dry_run_ids(*args) -> list[str]:
    result = invoke([*SMOKE, *args, "--dry-run"])
    assert result.exit_code == 0, result.output
    return [line.split()[1] for line in result.output.splitlines() if line.strip().startswith(("run ", "done "))]


@pytest.mark.slow
def test_npz_images_run_with_two_workers_and_the_footer_names_the_file(digits_npz, tmp_path):
    out = tmp_path / "out"
    result = invoke([*SMOKE, "--datasets", f"scans={digits_npz}", "--workers", "2", "--out", out])
    assert result.exit_code == 0, result.output
    rows = read_results(out)
    assert set(rows["dataset"]) == {"scans"} and set(rows["strategy"]) == {"random", "margin"}
    meta = read_metadata(next((out / "jobs").glob("*.parquet")))
    assert meta["dataset_source"]["path"] == str(digits_npz) and meta["dataset_source"]["format"] == "images"
    assert "scans.npz" in meta["dataset_files"]
    assert dict(map(tuple, meta["spec"]["resolved"]))["dataset.sha256"] == meta["dataset_files"]["scans.npz"][:16]


@pytest.mark.slow
def test_ray_tasks_read_the_user_file_too(digits_npz, tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "out"
    result = invoke(["bench", "--profile", "smoke", "--strategies", "random", "--rounds", "1", "--datasets",
                     f"scans={digits_npz}", "--backend", "ray", "--workers", "2", "--out", out])
    assert result.exit_code == 0, result.output
    assert set(read_results(out)["dataset"]) == {"scans"}


@pytest.mark.slow
def test_colour_image_folder_tree_of_any_size_trains_the_small_cnn(tmp_path):
    tree = write_tree(tmp_path / "shots", colour=True)
    result = invoke([*SMOKE, "--datasets", tree, "--workers", "1", "--out", tmp_path / "out"])
    assert result.exit_code == 0, result.output
    rows = read_results(tmp_path / "out")
    assert set(rows["dataset"]) == {"shots"} and rows["accuracy"].notna().all()


@pytest.mark.slow
def test_embeddings_run_the_linear_profile_without_an_encoder(tmp_path):
    arrays = digits_splits()
    flat = lambda x: x.reshape(len(x), -1).astype(np.float32) / 255  # noqa: E731
    path = write_npz(tmp_path / "feats.npz", train_embeddings=flat(arrays["x_train"]), y_train=arrays["y_train"],
                     test_embeddings=flat(arrays["x_test"]), y_test=arrays["y_test"])
    result = invoke(["bench", "--profile", "linear", "--strategies", "random,entropy", "--rounds", "2",
                     "--datasets", path, "--workers", "1", "--out", tmp_path / "out"])
    assert result.exit_code == 0, result.output
    rows = read_results(tmp_path / "out")
    assert set(rows["dataset"]) == {"feats"} and set(rows["model"]) == {"linear"}
    assert rows.groupby("strategy")["accuracy"].last().min() > 0.5  # 64 pixels are linearly separable enough


def write_text_folder(folder: Path, shared_data: Path, per_class: int = 120) -> Path:
    """MR's first sentences of each polarity, labelled by name, plus TREC questions as a third class."""
    mr = shared_data / "text" / "MR"
    rows = [(line, polarity) for polarity in ("neg", "pos")
            for line in (mr / f"rt-polarity.{polarity}").read_text("latin-1").splitlines()[:per_class]]
    rows += [(line.split(" ", 1)[1], "question") for line in
             (shared_data / "text" / "TREC" / "train_5500.label").read_text("latin-1").splitlines()[:per_class]]
    random.Random(0).shuffle(rows)
    folder.mkdir()
    cut = len(rows) * 3 // 4
    for split, part in (("train", rows[:cut]), ("test", rows[cut:])):
        with open(folder / f"{split}.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows(part)
    return folder


@pytest.mark.slow
def test_text_csv_runs_with_the_minilm_encoder(shared_data, minilm_weights, tmp_path):
    folder = write_text_folder(tmp_path / "reviews", shared_data)
    result = invoke(["bench", "--profile", "linear", "--encoder", "minilm", "--strategies", "random", "--rounds",
                     "2", "--initial", "30", "--query-size", "30", "--datasets", folder, "--workers", "1", "--out",
                     tmp_path / "out"])
    assert result.exit_code == 0, result.output
    rows = read_results(tmp_path / "out")
    assert set(rows["dataset"]) == {"reviews"} and rows["setting"].iloc[0] == "encoder=minilm"
    assert rows["accuracy"].iloc[-1] > 0.5  # three classes: above chance
    meta = read_metadata(next((tmp_path / "out" / "jobs").glob("*.parquet")))
    assert {"train.csv", "test.csv"} <= set(meta["dataset_files"])


def test_dry_run_names_the_file_its_size_and_hash(digits_npz, tmp_path):
    result = invoke([*SMOKE, "--datasets", f"scans={digits_npz}", "--out", tmp_path, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "scans/standard/random/seed0" in result.output
    assert f"your dataset scans: images from {digits_npz}; 1,257 train / 540 test, 10 classes" in result.output
    assert not (tmp_path / "jobs").exists()


def test_relative_paths_start_from_the_current_folder(digits_npz, tmp_path, monkeypatch):
    monkeypatch.chdir(digits_npz.parent)
    relative = dry_run_ids("--datasets", "./scans.npz", "--out", tmp_path)
    assert relative == dry_run_ids("--datasets", f"scans={digits_npz}", "--out", tmp_path)


def test_an_edited_file_makes_new_jobs_a_moved_one_does_not(digits_npz, tmp_path):
    before = dry_run_ids("--datasets", f"scans={digits_npz}", "--out", tmp_path)
    moved = tmp_path / "elsewhere" / "copy.npz"
    moved.parent.mkdir()
    shutil.copy(digits_npz, moved)
    assert dry_run_ids("--datasets", f"scans={moved}", "--out", tmp_path) == before
    arrays = digits_splits()
    arrays["x_train"][0, 0, 0] ^= 1  # one pixel
    write_npz(moved, **arrays)
    edited = dry_run_ids("--datasets", f"scans={moved}", "--out", tmp_path)
    assert len(edited) == len(before) == 2 and not set(edited) & set(before)


def test_a_worker_refuses_a_file_edited_after_planning(tmp_path):
    from alscope_autoal.bench import BenchRequest, plan
    from alscope_autoal.runner.core import compute_job
    from alscope_autoal.runner.options import RunOptions
    from alscope_autoal.data.user_sets import sources_of

    path = write_npz(tmp_path / "late.npz", **digits_splits())
    specs = plan(BenchRequest(datasets=(str(path),), strategies=("random",), profile="smoke"))
    options = RunOptions(datasets=sources_of(["late"]))
    arrays = digits_splits()
    arrays["y_test"][0] = (arrays["y_test"][0] + 1) % 10
    write_npz(path, **arrays)
    with pytest.raises(UserError, match="files of dataset 'late' changed after the sweep was planned"):
        compute_job(specs[0], options)


def bad_npz(tmp: Path, **changes) -> Path:
    arrays = digits_splits() | changes
    return write_npz(tmp / "bad.npz", **{k: v for k, v in arrays.items() if v is not None})


BAD_NPZ = {
    "missing key": (dict(y_test=None), "missing arrays y_test"),
    "mismatched lengths": (dict(y_train=digits_splits()["y_train"][:-1]), "x_train has 1257 samples but y_train "
                                                                           "has 1256 labels"),
    "float labels": (dict(y_train=digits_splits()["y_train"].astype(float)), "labels must be integer classes"),
    "negative label": (dict(y_test=digits_splits()["y_test"] - 1), "y_test holds the label -1"),
    "test class unknown to train": (dict(y_test=np.where(digits_splits()["y_test"] == 3, 12, 1)),
                                    "the test set holds class 12, which no training sample has"),
    "empty class": (dict(y_train=np.where(digits_splits()["y_train"] == 4, 5, digits_splits()["y_train"])),
                    "class 4 has no training sample"),
    "float images": (dict(x_train=digits_splits()["x_train"] / 255.0), "x_train holds float64 values: images must "
                                                                        "be uint8"),
    "five channels": (dict(x_train=np.zeros((1257, 5, 8, 8), np.uint8)), "x_train has shape (1257, 5, 8, 8)"),
    "train and test shapes differ": (dict(x_test=np.zeros((540, 9, 9), np.uint8)), "x_train's images are 8x8"),
}


@pytest.mark.parametrize("case", BAD_NPZ)
def test_a_bad_npz_stops_the_sweep_in_one_line_before_anything_is_written(case, tmp_path):
    changes, expected = BAD_NPZ[case]
    path = bad_npz(tmp_path, **changes)
    out = tmp_path / "out"
    one_line_error(invoke([*SMOKE, "--datasets", path, "--out", out]), expected)
    assert not out.exists()


def test_unreadable_and_missing_files_are_one_line(tmp_path):
    (tmp_path / "broken.npz").write_bytes(b"not a zip file")
    one_line_error(invoke([*SMOKE, "--datasets", tmp_path / "broken.npz", "--out", tmp_path / "o"]), "cannot read")
    one_line_error(invoke([*SMOKE, "--datasets", "./nowhere.npz", "--out", tmp_path / "o"]), "no file or folder")
    assert not (tmp_path / "o").exists()


def test_image_trees_with_two_sizes_or_unknown_test_classes_are_refused(tmp_path):
    tree = write_tree(tmp_path / "tree", per_split=100)
    Image.new("L", (9, 9)).save(tree / "train" / "digit-0" / "odd.png")
    one_line_error(invoke([*SMOKE, "--datasets", tree, "--out", tmp_path / "o"]), "images of different sizes")
    (tree / "train" / "digit-0" / "odd.png").unlink()
    (tree / "test" / "digit-99").mkdir()
    Image.new("L", (8, 8)).save(tree / "test" / "digit-99" / "a.png")
    one_line_error(invoke([*SMOKE, "--datasets", tree, "--out", tmp_path / "o"]), "test/digit-99/ is a class that "
                                                                                   "train/ does not have")
    shutil.rmtree(tree / "test" / "digit-99")
    for image in (tree / "train" / "digit-2").iterdir():
        image.unlink()
    one_line_error(invoke([*SMOKE, "--datasets", tree, "--out", tmp_path / "o"]), "train/digit-2/ holds no image")
    assert not (tmp_path / "o").exists()


def test_text_folders_need_their_columns_and_known_test_labels(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "train.csv").write_text("sentence,label\nfine,pos\nbad,neg\n")
    (folder / "test.csv").write_text("text,label\nok,pos\n")
    args = ["bench", "--profile", "linear", "--encoder", "minilm", "--datasets", folder, "--out", tmp_path / "o"]
    one_line_error(invoke(args), "train.csv has no text column")
    (folder / "train.csv").write_text("text,label\nfine,pos\nbad,neg\n")
    (folder / "test.csv").write_text("text,label\nok,meh\n")
    one_line_error(invoke(args), "the test set holds the label 'meh'")
    one_line_error(invoke([*SMOKE, "--datasets", folder / "train.csv", "--out", tmp_path / "o"]),
                   f"give the folder {folder}")


def test_names_and_profiles_that_do_not_fit_are_refused(digits_npz, tmp_path):
    one_line_error(invoke([*SMOKE, "--datasets", f"digits={digits_npz}", "--out", tmp_path]),
                   "'digits' is a built-in dataset")
    one_line_error(invoke([*SMOKE, "--datasets", f"a={digits_npz},a={digits_npz}", "--out", tmp_path]),
                   "two of --datasets are named 'a'")
    feats = write_npz(tmp_path / "feats.npz", train_embeddings=np.ones((10, 4)), y_train=np.arange(10) % 2,
                      test_embeddings=np.ones((4, 4)), y_test=np.arange(4) % 2)
    one_line_error(invoke([*SMOKE, "--datasets", feats, "--out", tmp_path]), "run it with --profile linear")
    one_line_error(invoke(["bench", "--profile", "linear", "--encoder", "resnet50", "--datasets", feats, "--out",
                           tmp_path]), "leave out --encoder for it")
    one_line_error(invoke([*SMOKE, "--datasets", "digitz", "--out", tmp_path]), "did you mean 'digits'")


def test_retrying_failed_jobs_of_a_user_dataset_asks_for_its_file(digits_npz, tmp_path):
    from dataclasses import replace

    from alscope_autoal.bench import BenchRequest, plan
    from alscope_autoal.runner.store import write_failure

    planned = plan(BenchRequest(datasets=(f"scans={digits_npz}",), strategies=("random",), profile="smoke"))[0]
    spec = replace(planned, dataset="unseen")  # as a job planned by another process on a file this one lacks
    write_failure(tmp_path, spec, "boom", "trace")
    one_line_error(invoke(["bench", "--out", tmp_path, "--retry-failed", "--dry-run"]),
                   "add --datasets unseen=PATH")
    result = invoke(["bench", "--out", tmp_path, "--retry-failed", "--dry-run", "--datasets",
                     f"unseen={digits_npz}"])
    assert result.exit_code == 0 and f"run   {spec.job_id}  unseen/" in result.output, result.output


def readme_commands() -> list[str]:
    """The commands of the README's "Benchmark on your own dataset" section, as a user would paste them."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split("## Benchmark on your own dataset", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


@pytest.mark.slow
def test_the_readme_section_runs_as_written(tmp_path):
    import shlex
    import subprocess
    import sys

    write_npz(tmp_path / "scans.npz", **digits_splits())
    commands = readme_commands()
    assert commands and all(command.startswith("autoal ") for command in commands)
    autoal = Path(sys.executable).parent / "autoal"
    for command in commands:
        done = subprocess.run([str(autoal), *shlex.split(command)[1:]], cwd=tmp_path, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    assert len(list((tmp_path / "scans-smoke" / "jobs").glob("*.parquet"))) == 2
    assert "scans" in done.stdout and "margin" in done.stdout  # the report's tables
