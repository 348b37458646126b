"""Faults and hostile files: what the check lets through and what a write may replace.

Names that cannot become a module attribute in every export format are refused by
the check, where they are written; a write never replaces anything but a regular
file (a device, a pipe, a link or a folder stays as it was)."""

from __future__ import annotations

import os
import stat

import pytest
from conftest import SPECS

import playground
from playground.core import fileio


@pytest.mark.parametrize("name", ["class", "def", "None", "lambda", "True"])
def test_a_python_keyword_cannot_name_a_layer(name):
    text = (SPECS / "mnist_cnn.yaml").read_text().replace("name: conv1", f"name: '{name}'")
    assert f"name: '{name}'" in text
    with pytest.raises(playground.SpecError) as info:
        playground.load_spec(text)
    (problem,) = info.value.problems
    assert problem.path[-1] == "name" and problem.reason == "name"
    assert f"'{name}' is a Python keyword" in problem.message and f"{name}_1" in problem.fix


def _specials(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    target = tmp_path / "kept.txt"
    target.write_text("mine")
    link = tmp_path / "link.onnx"
    link.symlink_to(target)
    folder = tmp_path / "folder.onnx"
    folder.mkdir()
    return {"a pipe": fifo, "a symbolic link": link, "a folder": folder}


def test_a_write_never_replaces_what_is_not_a_regular_file(tmp_path):
    for what, path in _specials(tmp_path).items():
        before = os.lstat(path)
        with pytest.raises(fileio.NotARegularFile, match="playground writes only regular files"):
            fileio.atomic_write_text(path, "x")
        after = os.lstat(path)
        assert stat.S_IFMT(after.st_mode) == stat.S_IFMT(before.st_mode) and after.st_ino == before.st_ino, what
    assert (tmp_path / "kept.txt").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_export_with_force_refuses_a_device_node_by_name(tmp_path, capsys, monkeypatch):
    import playground.export
    from playground.export.cli import main

    def never(*args, **kwargs):
        raise AssertionError("built the model's bytes for a target it then refuses")

    monkeypatch.setattr(playground.export, "to_bytes", never)   # refused first, before the slow part
    for path in _specials(tmp_path).values():
        code = main([str(SPECS / "mnist_cnn.yaml"), "--format", "onnx", "--out", str(path), "--force"])
        err = capsys.readouterr().err
        assert code != 0 and str(path) in err and "Traceback" not in err
    if os.path.exists("/dev/full"):   # the device itself, where the machine has one
        code = main([str(SPECS / "mnist_cnn.yaml"), "--format", "onnx", "--out", "/dev/full", "--force"])
        assert code != 0 and stat.S_ISCHR(os.lstat("/dev/full").st_mode)


# -- run folders whose process is gone, or whose checkpoint is not whole ----------------------

def _run(tmp_path, data_dir, name="run"):
    from playground.train.cli import main

    out = tmp_path / name
    assert main([str(SPECS / "mnist_cnn.yaml"), "--epochs", "1", "--device", "cpu", "--data-dir", str(data_dir),
                 "--no-download", "--out", str(out)]) == 0
    return out


def test_the_listing_tells_a_dead_run_and_a_broken_checkpoint(tmp_path, data_dir):
    import json
    import signal
    import subprocess
    import sys

    from playground.runs import folders as runs
    from playground.runs import listing

    done = _run(tmp_path, data_dir, "done")
    assert listing.read_record(done).status == "completed" and listing.read_record(done).problem is None

    dead = tmp_path / "dead"   # run.json says running, written by a process killed with -9
    dead.mkdir()
    for f in ("run.json", "spec.yaml", "metrics.jsonl", "checkpoint.pt"):
        (dead / f).write_bytes((done / f).read_bytes())
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    info = json.loads((dead / "run.json").read_text())
    info.update(status="running", pid=child.pid)
    for ending in ("updated", "seconds"):
        info.pop(ending, None)
    (dead / "run.json").write_text(json.dumps(info))
    assert listing.read_record(dead).status == "running"          # alive: it is running
    child.send_signal(signal.SIGKILL)
    child.wait()
    record = listing.read_record(dead)
    assert record.status == "interrupted" and "its process is gone" in record.problem

    for cut in (0, 100, (done / "checkpoint.pt").stat().st_size - 10):
        (tmp_path / "broken").mkdir(exist_ok=True)
        for f in ("run.json", "spec.yaml", "metrics.jsonl"):
            (tmp_path / "broken" / f).write_bytes((done / f).read_bytes())
        (tmp_path / "broken" / "checkpoint.pt").write_bytes((done / "checkpoint.pt").read_bytes()[:cut])
        record = listing.read_record(tmp_path / "broken")
        assert record.status == "completed" and record.problem == "checkpoint.pt is cut short or not a checkpoint"
    (tmp_path / "broken" / "checkpoint.pt").unlink()
    assert listing.read_record(tmp_path / "broken").problem == "no checkpoint.pt"
    assert runs.checkpoint_problem(done) is None

    import torch

    class Hostile:   # a checkpoint that would run a command as it loads
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    for protocol in (2, 4):
        torch.save({"format": 1, "x": Hostile()}, tmp_path / "broken" / "checkpoint.pt", pickle_protocol=protocol)
        record = listing.read_record(tmp_path / "broken")
        assert record.problem == "checkpoint.pt holds the Python object posix.system: it will not be loaded", protocol


# -- depth: refused where it is written, before anything recurses -------------------------------

def _nested(n: int) -> dict:
    layer: dict = {"type": "relu"}
    for _ in range(n):
        layer = {"type": "sequential", "layers": [layer]}
    return {"name": "deep", "data": {"dataset": "none"}, "input": {"channels": 1, "height": 4, "width": 4},
            "layers": [layer]}


def _uses(n: int) -> dict:
    blocks = {f"b{i}": {"layers": [{"type": "use", "block": f"b{i + 1}"}]} for i in range(n)}
    blocks[f"b{n}"] = {"layers": [{"type": "relu"}]}
    return {**_nested(0), "blocks": blocks, "layers": [{"type": "use", "block": "b0"}]}


def _nested_text(n: int) -> str:
    return ("name: deep\ndata: {dataset: none}\ninput: {channels: 1, height: 4, width: 4}\nlayers:\n  - "
            + "{type: sequential, layers: [" * n + "{type: relu}" + "]}" * n + "\n")


def test_the_nesting_limit_holds_for_any_depth_and_both_ways_of_nesting():
    assert playground.load_spec(_nested(30)).layers        # 31 lists of layers: within the limit of 32
    assert playground.load_spec(_nested_text(30)).layers
    assert playground.load_spec(_uses(20)).layers
    for n in (40, 300, 20_000):
        for source in (_nested(n), _nested_text(n)):
            with pytest.raises(playground.SpecError, match="over the limit of 32|maximum nesting depth"):
                playground.load_spec(source)
        with pytest.raises(playground.SpecError, match="through blocks that use blocks, over the limit of 32"):
            playground.load_spec(_uses(n))


def test_a_16_bit_picture_is_scaled_to_8_bits_not_clipped(tmp_path):
    import numpy as np
    from PIL import Image

    from playground.train.imagefolder import decode

    ramp = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)   # dark to light
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode == "I;16"
    eight = (ramp >> 8).astype(np.uint8)
    Image.fromarray(eight).save(tmp_path / "plain.png")
    for channels in (1, 3):
        got = decode(str(tmp_path / "deep.png"), channels, 32, 32, "stretch")
        want = decode(str(tmp_path / "plain.png"), channels, 32, 32, "stretch")
        assert np.array_equal(got, want) and 120 < got.mean() < 135   # the 8-bit picture's, not 99% white


# -- studies: a storage that cannot be one, a database that is damaged --------------------------

@pytest.mark.parametrize("storage,words", [
    ("bogus://x", "a study lives in SQLite"), ("redis://localhost", "a study lives in SQLite"),
    ("postgresql://user@nowhere/db", "no Python driver for postgresql is installed"),
])
def test_a_storage_that_cannot_hold_a_study_is_one_clear_error(storage, words, tmp_path, data_dir, capsys):
    import importlib.util

    from playground.sweep.cli import main

    if storage.startswith("postgresql") and importlib.util.find_spec("psycopg2") is not None:
        pytest.skip("a postgresql driver is installed here")
    code = main([str(SPECS / "mnist_cnn.yaml"), "--set", "train.lr=[0.01]", "--epochs", "1", "--storage", storage,
                 "--data-dir", str(data_dir), "--no-download", "--out", str(tmp_path / "sweep")])
    err = capsys.readouterr().err
    assert code == 2 and words in err and "Traceback" not in err and len(err.splitlines()) <= 3


@pytest.mark.parametrize("damage", ["garbage", "torn pages"])
def test_a_damaged_study_database_is_named_at_once(damage, tmp_path, data_dir, capsys):
    import sqlite3
    import time

    from playground.sweep.cli import main

    folder = tmp_path / "sweep"
    folder.mkdir()
    db = folder / "study.db"
    if damage == "garbage":
        db.write_bytes(os.urandom(8192))
    else:   # a real SQLite file whose pages after the header are overwritten
        with sqlite3.connect(db) as con:
            con.execute("create table t (x text)")
            con.executemany("insert into t values (?)", [("x" * 500,)] * 200)
        data = bytearray(db.read_bytes())
        data[100:] = os.urandom(len(data) - 100)
        db.write_bytes(bytes(data))
    before = db.read_bytes()
    start = time.monotonic()
    code = main([str(SPECS / "mnist_cnn.yaml"), "--set", "train.lr=[0.01]", "--epochs", "1",
                 "--data-dir", str(data_dir), "--no-download", "--out", str(folder)])
    err = capsys.readouterr().err
    assert code == 2 and "is not a whole SQLite database" in err and "Move it away" in err, err
    assert "Traceback" not in err and time.monotonic() - start < 5     # no retries for a file that will not heal
    assert db.read_bytes() == before                                   # left as it was, for whoever looks



@pytest.mark.parametrize("how", ["emptied to 0 bytes", "another study"])
def test_trial_folders_no_study_holds_are_not_trained_over(how, tmp_path, data_dir, capsys):
    from playground.sweep.cli import main

    folder = tmp_path / "sweep"
    sweep = [str(SPECS / "mnist_cnn.yaml"), "--set", "train.lr=[0.01]", "--epochs", "1", "--data-dir",
             str(data_dir), "--no-download", "--out", str(folder)]
    (folder / "trial-000").mkdir(parents=True)   # a trial that trained, its run intact
    (folder / "trial-000" / "run.json").write_text('{"status": "completed"}')
    if how == "emptied to 0 bytes":
        (folder / "study.db").write_bytes(b"")
    else:
        sweep += ["--study", "another"]
    before = {f.name: f.read_bytes() for f in folder.rglob("*") if f.is_file()}
    assert main(sweep) == 2
    err = capsys.readouterr().err
    assert "holds 1 trial run folder (trial-000)" in err and "another --out" in err and "Traceback" not in err
    assert "already exists" not in err
    if how == "emptied to 0 bytes":
        assert "is empty (0 bytes)" in err
        assert {f.name: f.read_bytes() for f in folder.rglob("*") if f.is_file()} == before   # nothing changed
    assert not (folder / "trial-001").exists()

# -- hostile image folders: links, loops, names ------------------------------------------------

def _folder(root, classes=("a", "b"), per_class=3):
    import numpy as np
    from PIL import Image

    for split in ("train", "test"):
        for k, name in enumerate(classes):
            (root / split / name).mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray(np.full((8, 8), 40 * k + i, np.uint8)).save(root / split / name / f"{i}.png")
    return root


def test_the_scan_finds_what_torchvisions_imagefolder_finds_in_the_same_order(tmp_path):
    from torchvision.datasets import ImageFolder

    from playground.train.imagefolder import scan

    root = _folder(tmp_path / "pics", classes=("cat", "dog", "emu"))
    (root / "train" / "dog" / "more" / "deeper").mkdir(parents=True)
    for name in ("z.png", "a.png"):
        (root / "train" / "dog" / "more" / name).write_bytes((root / "train" / "dog" / "0.png").read_bytes())
        (root / "train" / "dog" / "more" / "deeper" / name).write_bytes((root / "train" / "dog" / "0.png").read_bytes())
    found = scan(root)
    reference = ImageFolder(str(root / "train"), is_valid_file=lambda p: not os.path.basename(p).startswith("."))
    assert found.classes == tuple(reference.classes)
    assert list(found.train) == [tuple(s) for s in reference.samples]


@pytest.mark.parametrize("case", ["class linked to /", "class linked to /etc", "image linked outside", "loop",
                                  "dangling", "not UTF-8"])
def test_a_hostile_folder_is_refused_by_name_and_quickly(case, tmp_path):
    import time

    from playground.train.imagefolder import FolderError, scan

    root = _folder(tmp_path / "pics")
    where = root / "train" / "a"
    if case == "class linked to /":
        (root / "train" / "c").symlink_to("/")
        (root / "test" / "c").mkdir()
    elif case == "class linked to /etc":
        (root / "train" / "c").symlink_to("/etc")
        (root / "test" / "c").mkdir()
    elif case == "image linked outside":
        (tmp_path / "secret.png").write_bytes((where / "0.png").read_bytes())
        (where / "x.png").symlink_to(tmp_path / "secret.png")
    elif case == "loop":
        (where / "again").symlink_to(where)
    elif case == "dangling":
        (where / "gone.png").symlink_to(tmp_path / "nothing.png")
    else:
        with open(os.path.join(os.fsencode(where), b"bad\xff.png"), "wb") as f:
            f.write((where / "0.png").read_bytes())
    start = time.monotonic()
    with pytest.raises(FolderError) as info:
        scan(root)
    message = str(info.value)
    assert time.monotonic() - start < 5
    words = {"class linked to /": "outside the image folder", "class linked to /etc": "outside the image folder",
             "image linked outside": "outside the image folder", "loop": "links back to",
             "dangling": "which does not exist", "not UTF-8": "is not UTF-8 text"}[case]
    assert words in message and "'" + str(root) in message


def test_links_inside_the_folder_are_followed(tmp_path):
    from playground.train.imagefolder import scan

    root = _folder(tmp_path / "pics")
    (root / "shared").mkdir()
    (root / "shared" / "9.png").write_bytes((root / "train" / "a" / "0.png").read_bytes())
    (root / "train" / "a" / "9.png").symlink_to(root / "shared" / "9.png")
    (root / "train" / "b" / "more").symlink_to(root / "shared")
    found = scan(root)
    assert sum(1 for _, label in found.train if label == 0) == 4 and sum(1 for _, k in found.train if k == 1) == 4


def test_a_file_name_with_a_newline_cannot_forge_a_line(tmp_path):
    import numpy as np

    from playground.train.imagefolder import Cached

    empty = (np.zeros((0, 8, 8, 1), np.uint8), np.zeros(0, np.int64))
    cached = Cached(tmp_path, ("a",), empty, empty, (0.5,), (0.2,),
                    skipped={"train": ["a/x.png\nerror: all your data is gone"]})
    (note, _) = cached.notes()
    assert "\n" not in note and "'a/x.png\\nerror: all your data is gone'" in note


# -- the image cache: never trusted without a check that stays cheap -----------------------------

def _load(root):
    from playground.train.imagefolder import load

    gen = load(root, 1, 8, 8, "stretch", workers=1)
    try:
        while True:
            next(gen)
    except StopIteration as done:
        return done.value


def test_a_picture_rewritten_in_place_with_its_size_and_time_kept_is_decoded_again(tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    monkeypatch.setenv("PLAYGROUND_CACHE", str(tmp_path / "cache"))
    root = _folder(tmp_path / "pics")
    picture = root / "train" / "a" / "0.png"
    Image.fromarray(np.full((8, 8), 10, np.uint8)).save(picture, format="BMP")   # uncompressed: a fixed size
    first = _load(root)
    assert first.decoded and _load(root).decoded is False          # the second time: from the cache
    st = picture.stat()
    Image.fromarray(np.full((8, 8), 250, np.uint8)).save(picture, format="BMP")   # another picture, same size
    assert picture.stat().st_size == st.st_size
    os.utime(picture, ns=(st.st_atime_ns, st.st_mtime_ns))          # and the old time, as cp -p and rsync -a do
    again = _load(root)
    assert again.decoded and again.train[0][0].mean() == 250


@pytest.mark.parametrize("damage", ["same-size garbage in the images", "labels out of range", "a std of 0",
                                    "classes of the wrong type"])
def test_a_damaged_cache_is_decoded_again_not_trained_on(damage, tmp_path, monkeypatch):
    import json

    import numpy as np

    monkeypatch.setenv("PLAYGROUND_CACHE", str(tmp_path / "cache"))
    root = _folder(tmp_path / "pics")
    good = _load(root)
    folder = good.folder
    expected = np.array(good.train[0])
    if damage == "same-size garbage in the images":
        data = bytearray((folder / "train.npy").read_bytes())
        data[-64:] = os.urandom(64)
        (folder / "train.npy").write_bytes(bytes(data))
    elif damage == "labels out of range":
        labels = np.load(folder / "train.labels.npy")
        labels[0] = 7
        np.save(folder / "train.labels.npy", labels)
    else:
        meta = json.loads((folder / "meta.json").read_text())
        if damage == "a std of 0":
            meta["std"] = [0.0]
        else:
            meta["classes"] = [1, 2]
        (folder / "meta.json").write_text(json.dumps(meta))
    again = _load(root)
    assert again.decoded, damage                                     # not read from the damaged cache
    assert np.array_equal(np.array(again.train[0]), expected) and again.std == good.std


def test_ten_thousand_empty_class_folders_make_a_short_message(tmp_path):
    from playground.train.imagefolder import FolderError, scan

    root = _folder(tmp_path / "pics")
    for i in range(10_000):
        (root / "train" / f"empty{i:05d}").mkdir()
        (root / "test" / f"empty{i:05d}").mkdir()
    with pytest.raises(FolderError) as info:
        scan(root)
    message = str(info.value)
    assert "has no images for 10,000 classes ('empty00000', " in message and "and 9,995 more" in message
    assert len(message) < 600


# -- one run folder, one answer: the checkpoint's spec is the truth, and the others say so --------

def test_a_spec_edited_after_training_is_said_by_export_and_refused_by_resume(tmp_path, data_dir, capsys):
    from playground.export.cli import main as export_main
    from playground.runs import folders as runs
    from playground.train.cli import main as train_main

    run = _run(tmp_path, data_dir)
    spec_file = run / "spec.yaml"
    original = spec_file.read_text()
    assert runs.spec_edits(run, runs.load_checkpoint(run)["spec"]) == []
    spec_file.write_text(original.replace("type: relu", "type: sigmoid", 1))
    assert runs.spec_edits(run, runs.load_checkpoint(run)["spec"]) == ["layers[2].type"]
    capsys.readouterr()

    assert export_main([str(run), "--format", "python", "--out", str(tmp_path / "m.py")]) == 0
    err = capsys.readouterr().err
    assert "note:" in err and "was edited after training (layers[2].type)" in err
    assert "nn.ReLU()" in (tmp_path / "m.py").read_text()        # the weights' own spec

    from playground.runs.compare import main as compare_main

    other = _run(tmp_path, data_dir, "other")
    assert compare_main([str(run), str(other)]) == 0
    shown = capsys.readouterr()
    assert "was edited after training (layers[2].type)" in shown.err
    assert "sigmoid" not in shown.out                             # compared: what trained, not the edit

    code = train_main(["--resume", str(run), "--epochs", "2", "--data-dir", str(data_dir), "--no-download"])
    err = capsys.readouterr().err
    assert code == 2 and "was edited after its checkpoint was saved (layers[2].type)" in err and "Traceback" not in err
    assert "type: sigmoid" in spec_file.read_text()              # the edit is not written over
    spec_file.write_text(original)                               # undone: --resume goes on
    assert train_main(["--resume", str(run), "--epochs", "2", "--data-dir", str(data_dir), "--no-download"]) == 0



DAMAGES = {   # what a damaged run folder holds, done to a copy of a whole run
    "run.json: a 5001-digit number": ("run.json", lambda p: p.write_text(
        p.read_text().replace('"epochs": 1', '"epochs": ' + "9" * 5001)), "number too long"),
    "run.json: a list": ("run.json", lambda p: p.write_text("[1]"), "not the JSON mapping"),
    "metrics.jsonl: half a line": ("metrics.jsonl", lambda p: p.write_text(p.read_text() + '{"epoch": 2, "tr'),
                                   "line 2, is damaged: not JSON"),
    "metrics.jsonl: a 5001-digit epoch": ("metrics.jsonl", lambda p: p.write_text(
        p.read_text() + '{"epoch": ' + "9" * 5001 + "}\n"), "line 2, is damaged"),
    "metrics.jsonl: not a record": ("metrics.jsonl", lambda p: p.write_text(p.read_text() + "[1, 2]\n"),
                                    "not an epoch's record"),
    "spec.yaml: a folder": ("spec.yaml", lambda p: (p.unlink(), p.mkdir()), "is not a regular file"),
    "metrics.jsonl: a folder": ("metrics.jsonl", lambda p: (p.unlink(), p.mkdir()), "is not a regular file"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_resume_refuses_a_damaged_run_file_by_name_and_the_listing_still_lists(damage, tmp_path, data_dir, capsys):
    from playground.runs import listing
    from playground.train.cli import main as train_main

    name, do, words = DAMAGES[damage]
    run = _run(tmp_path, data_dir)
    do(run / name)
    before = {f.name: f.read_bytes() for f in run.iterdir() if f.is_file()}
    capsys.readouterr()
    code = train_main(["--resume", str(run), "--epochs", "2", "--data-dir", str(data_dir), "--no-download"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and str(run / name) in err and words in err, err
    assert "sys.set_int_max_str_digits" not in err and len(err.splitlines()) <= 4
    assert {f.name: f.read_bytes() for f in run.iterdir() if f.is_file()} == before   # nothing written
    (row,) = listing.list_records(tmp_path)                      # one damaged file hides no run
    assert row.problem or name == "spec.yaml"


KILLED_WRITE = """
import os, signal, sys
from playground.core import fileio

def write(f):   # half the new bytes, then kill -9 at this named write
    f.write(b"half of it")
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)

fileio.atomic_write(sys.argv[1], write)
"""


def test_what_a_killed_writer_left_is_cleaned_and_nothing_else(tmp_path):
    import socket
    import subprocess
    import sys

    from playground.core import fileio

    target = tmp_path / "checkpoint.pt"
    target.write_bytes(b"the old checkpoint")
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITE, str(target)])
    assert killed.returncode == -9
    (left,) = [p for p in tmp_path.iterdir() if p.name != "checkpoint.pt"]   # the temporary file stays behind
    assert left.read_bytes() == b"half of it" and target.read_bytes() == b"the old checkpoint"
    host, dead = socket.gethostname(), fileio.LEFTOVER.match(left.name)["pid"]
    alive = tmp_path / f".checkpoint.pt~{host}~{os.getpid()}~abc.tmp"          # a live writer's: kept
    elsewhere = tmp_path / f".checkpoint.pt~another-host~{dead}~abc.tmp"      # another machine's: kept
    other = tmp_path / f".run.json~{host}~{dead}~abc.tmp"                     # another target's, same dead writer
    mine = tmp_path / ".checkpoint.pt.my-own-notes.tmp"                      # not named as ours: kept
    for path in (alive, elsewhere, other, mine):
        path.write_bytes(b"x")
    fileio.atomic_write_text(target, "the new checkpoint")                    # the next write of that target
    assert target.read_text() == "the new checkpoint"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["checkpoint.pt", alive.name, elsewhere.name,
                                                                  other.name, mine.name])
    assert fileio.clean_leftovers(tmp_path) == [other]                        # the whole folder: all its dead


KILLED_DECODE = """
import os, signal, sys
from playground.train import imagefolder

real = imagefolder._decode_split
def decode(tmp, *args, **kwargs):   # the cache's temporary folder made, then kill -9
    os.kill(os.getpid(), signal.SIGKILL)
    yield from real(tmp, *args, **kwargs)
imagefolder._decode_split = decode
for _ in imagefolder.load(imagefolder.Path(sys.argv[1]), 1, 8, 8, "stretch"):
    pass
"""


def test_a_cache_folder_a_killed_decode_left_is_cleaned(tmp_path, monkeypatch):
    import subprocess
    import sys

    from playground.core import fileio
    from playground.train import imagefolder

    monkeypatch.setenv("PLAYGROUND_CACHE", str(tmp_path / "cache"))
    root = _folder(tmp_path / "pictures")
    killed = subprocess.run([sys.executable, "-c", KILLED_DECODE, str(root)], env={**os.environ})
    assert killed.returncode == -9
    cache = imagefolder.cache_folder(root, 1, 8, 8, "stretch")
    assert [p for p in cache.parent.iterdir() if fileio.LEFTOVER.match(p.name)]   # its temporary folder stayed
    list(imagefolder.load(root, 1, 8, 8, "stretch"))
    assert sorted(p.name for p in cache.parent.iterdir()) == [cache.name]     # gone; the cache made

# -- disks: full, read-only: one located message, every old file intact --------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A 24 KB tmpfs (skipped where this process may not mount one)."""
    import subprocess

    where = tmp_path / "small"
    where.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24k", "tmpfs", str(where)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip() or made.returncode}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_a_full_disk_is_one_located_message_for_export_and_training(small_disk, data_dir, capsys):
    from playground.export.cli import main as export_main
    from playground.train.cli import main as train_main

    assert export_main([str(SPECS / "zoo" / "resnet18.yaml"), "--format", "onnx",
                        "--out", str(small_disk / "r.onnx")]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {small_disk / 'r.onnx'}: the disk is full" in err and "Traceback" not in err
    assert list(small_disk.iterdir()) == []                       # no temporary file left behind

    code = train_main([str(SPECS / "mnist_cnn.yaml"), "--epochs", "1", "--device", "cpu", "--data-dir",
                       str(data_dir), "--no-download", "--out", str(small_disk / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "the disk is full" in err and "Traceback" not in err
    assert not [p for p in (small_disk / "run").iterdir() if p.name.endswith(".tmp")]


def test_a_read_only_folder_is_one_located_message(small_disk, capsys):
    import subprocess

    from playground.export.cli import main as export_main

    (small_disk / "old.onnx").write_bytes(b"an older export")
    if subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], capture_output=True).returncode != 0:
        pytest.skip("cannot remount the tmpfs read-only here")
    assert export_main([str(SPECS / "mnist_cnn.yaml"), "--format", "onnx", "--out", str(small_disk / "old.onnx"),
                        "--force"]) == 2
    err = capsys.readouterr().err
    assert "read-only file system" in err and "Traceback" not in err
    assert (small_disk / "old.onnx").read_bytes() == b"an older export"
