"""The library side of the app: live check, layer edits, widget forms, saving,
background training and digit preprocessing."""

from __future__ import annotations

import pytest
import torch

from playground.app import editing
from playground.app.forms import KINDS, field_forms
from playground.layers import BUILTINS
from playground.layers.registry import get_registry


def test_check_text_on_a_valid_spec(mnist_text):
    checked = editing.check_text(mnist_text)
    assert checked.ok and len(checked.rows) == 8 and checked.summary.output_shape == (10,)


def test_check_text_keeps_the_rows_before_a_shape_error(mnist_text):
    checked = editing.check_text(mnist_text.replace("in_channels: 10", "in_channels: 7"))
    assert not checked.ok and checked.bad_layers == {3}
    assert [r.output_shape for r in checked.rows] == [(10, 24, 24), (10, 12, 12), (10, 12, 12)]
    assert checked.doc["name"] == "mnist_cnn"  # the document is still there to edit


@pytest.mark.parametrize("text", ["name: [", "", "- a list", "\x00", "name: x\nlayers: 5\n"])
def test_check_text_never_raises(text):
    checked = editing.check_text(text)
    assert not checked.ok and str(checked.error)


@pytest.mark.parametrize("cls", BUILTINS, ids=lambda c: c.type_name())
def test_every_field_of_every_plugin_has_a_form(cls):
    cls = get_registry()[cls.type_name()]
    forms = field_forms(cls)
    assert {f.name for f in forms} == set(cls.model_fields) - {"type"}
    for form in forms:
        assert form.kind in KINDS and form.help
        value = cls.example.get(form.name, form.default)
        if value is not None and form.kind != "yaml":
            assert form.accepts(value), (form, value)


def test_forms_reflect_bounds_and_choices():
    forms = {f.name: f for f in field_forms(get_registry()["conv2d"])}
    out = {f.name: f for f in field_forms(get_registry()["linear"])}["out_features"]
    assert (out.kind, out.minimum, out.required) == ("int", 1, True)
    assert forms["in_channels"].nullable and not forms["in_channels"].accepts(0)
    assert forms["padding"].kind == "yaml"  # int, pair or 'same'/'valid': free YAML
    gelu = {f.name: f for f in field_forms(get_registry()["gelu"])}
    assert gelu["approximate"].choices == ("none", "tanh") and not gelu["approximate"].accepts("erf")


@pytest.mark.parametrize("name,message", [
    ("../outside", "not a safe file name"), ("a/b", "not a safe file name"), ("", "not a safe file name"),
    (".hidden", "not a safe file name"), ("x" * 65, "not a safe file name"),
])
def test_save_refuses_unsafe_names(tmp_path, name, message):
    with pytest.raises(editing.SaveError, match=message):
        editing.save_spec("name: x\n", name, tmp_path)


def test_save_never_overwrites_silently(tmp_path):
    path = editing.save_spec("name: a\n", "net.yaml", tmp_path)
    assert path == tmp_path / "net.yaml"
    with pytest.raises(editing.SaveError, match="already exists"):
        editing.save_spec("name: b\n", "net", tmp_path)
    assert path.read_text() == "name: a\n"
    editing.save_spec("name: b", "net", tmp_path, overwrite=True)
    assert path.read_text() == "name: b\n"


def test_a_replacement_is_refused_when_the_file_changed_since_the_user_was_asked(tmp_path):
    path = editing.save_spec("name: a\n", "net", tmp_path)
    asked = path.read_text()
    path.write_text("name: theirs\n")                       # another session saved meanwhile
    with pytest.raises(editing.SaveConflict, match="changed on disk since you were asked"):
        editing.save_spec("name: mine\n", "net", tmp_path, overwrite=True, expected=asked)
    assert path.read_text() == "name: theirs\n"
    editing.save_spec("name: mine\n", "net", tmp_path, overwrite=True, expected="name: theirs\n")
    assert path.read_text() == "name: mine\n"


def test_a_file_source_sees_saves_from_elsewhere_and_its_own_do_not_count(tmp_path):
    (tmp_path / "net.yaml").write_text("name: a\n")
    source = editing.Source.file("net.yaml", "name: a\n")
    assert editing.disk_change(source, tmp_path) is None
    (tmp_path / "net.yaml").write_text("name: b\n")
    change = editing.disk_change(source, tmp_path)
    assert change.now == "name: b\n" and "changed on disk since you opened it" in change.describe()
    assert "-name: b\n+name: mine\n" in change.diff("name: mine")
    saved = editing.Source.file("net.yaml", "name: c", editing.file_text("name: c"))   # saved without a newline
    editing.save_spec("name: c", "net", tmp_path, overwrite=True)
    assert editing.disk_change(saved, tmp_path) is None and not saved.edited("name: c")
    (tmp_path / "net.yaml").unlink()
    assert "deleted or renamed" in editing.disk_change(saved, tmp_path).describe()
    assert editing.disk_change(editing.Source("upload", "net.yaml", "x"), tmp_path) is None


def test_digit_preprocessing_centres_and_scales():
    from playground.train.inference import digit_to_input
    drawing = torch.zeros(280, 280)
    drawing[20:120, 200:230] = 255  # a tall bar in the top-right corner
    image = digit_to_input(drawing)
    assert image.shape == (28, 28) and image.dtype == torch.uint8
    rows, cols = torch.nonzero(image, as_tuple=True)
    assert rows.max() - rows.min() + 1 == 20          # fitted to the 20x20 box
    assert abs((rows.float().mean() - 13.5).item()) < 1.5 and abs((cols.float().mean() - 13.5).item()) < 1.5
    assert digit_to_input(torch.zeros(50, 50)).sum() == 0


def test_background_job_stops_with_a_checkpoint(tmp_path):
    from tinydata import TINY, write_dataset

    import playground
    from playground.app.jobs import TrainingJob
    from playground.runs import folders as runs
    from playground.train.engine import Trainer

    data = write_dataset(tmp_path / "data")
    spec = playground.load_spec(TINY.replace("epochs: 3", "epochs: 500"))
    job = TrainingJob(Trainer(spec, out=tmp_path / "run", data_dir=data, download=False, progress_every=1)).start()
    import time
    end = time.time() + 60
    while time.time() < end and not job.snapshot().metrics:
        time.sleep(0.05)
    job.stop()
    job.join(timeout=60)
    state = job.snapshot()
    assert state.status == "stopped" and not state.active and state.losses
    assert runs.read_info(tmp_path / "run")["status"] == "stopped"
    assert runs.load_checkpoint(tmp_path / "run")["epoch"] >= 1


def test_background_job_reports_errors(tmp_path):
    from tinydata import TINY

    import playground
    from playground.app.jobs import TrainingJob
    from playground.train.engine import Trainer

    job = TrainingJob(Trainer(playground.load_spec(TINY), out=tmp_path / "run", data_dir=tmp_path / "none",
                              download=False)).start()
    job.join(timeout=60)
    state = job.snapshot()
    assert state.status == "failed" and "MNIST is not in" in state.error
