"""Tests for files/support/getting_pictures.py: `convnet.py prepare` from Microsoft's layout (a
folder or its zip, handed over by a stand-in for keras.utils.get_file), the download chosen with
and without Kaggle credentials, and the errors a reader meets offline (in-process, no network).
Kaggle's layout and kagglehub: test_convnet.py's prepare tests."""

import io
import zipfile

from support import getting_pictures

import keras
import numpy as np
import pytest
from PIL import Image

import make_images
from harness import REPO_ROOT, result_fields, run_script

SAMPLE_SPLIT = REPO_ROOT / "data" / "sample" / "cats_and_dogs_small"
# Both ends of each split, and one number the book leaves out.
NUMBERS = [0, 1, 999, 1000, 1499, 1500, 1999, 2000]
EMPTY, GARBAGE = "Cat/1.jpg", "Dog/1000.jpg"  # as Microsoft's Cat/666.jpg, Dog/11702.jpg


def tiny_jpeg(label, seed):
    rng = np.random.default_rng(seed)
    out = io.BytesIO()
    Image.fromarray(make_images.draw_image(label, 8, rng)).save(out, "JPEG")
    return out.getvalue()


def make_pet_images(folder):
    """A small PetImages/ folder in Microsoft's layout: Cat/N.jpg and Dog/N.jpg for each of
    NUMBERS, one of them empty, one not a JPEG, and the Thumbs.db Windows left in each."""
    for name in ("Cat", "Dog"):
        (folder / name).mkdir(parents=True)
        for number in NUMBERS:
            (folder / name / f"{number}.jpg").write_bytes(tiny_jpeg(name.lower(), number))
        (folder / name / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0 thumbnails")
    (folder / EMPTY).write_bytes(b"")
    (folder / GARBAGE).write_bytes(b"<html>not a picture</html>")
    return folder


def snapshot(folder):
    return {path: (path.stat().st_mtime_ns, path.read_bytes())
            for path in sorted(folder.rglob("*")) if path.is_file()}


# What the book's subset takes of NUMBERS (2000 is not in it): the files in each folder.
EXPECTED = {
    ("train", "cats"): {"cat.0.jpg", "cat.999.jpg"},  # cat 1 was empty
    ("train", "dogs"): {"dog.0.jpg", "dog.1.jpg", "dog.999.jpg"},
    ("validation", "cats"): {"cat.1000.jpg", "cat.1499.jpg"},
    ("validation", "dogs"): {"dog.1499.jpg"},  # dog 1000 is not a JPEG
    ("test", "cats"): {"cat.1500.jpg", "cat.1999.jpg"},
    ("test", "dogs"): {"dog.1500.jpg", "dog.1999.jpg"},
}


def assert_book_subset(split):
    for (name, label), files in EXPECTED.items():
        assert {path.name for path in (split / name / label).iterdir()} == files, (name, label)


def assert_prepared(result, copied, already_there):
    assert result.returncode == 0, result.stderr[-3000:]
    fields = result_fields(result.stdout)
    assert (fields["copied"], fields["already_there"], fields["skipped"], fields["missing"]) == (
        str(copied), str(already_there), "2", str(4000 - 14))
    lines = result.stdout.splitlines()
    assert [line.split("cats_and_dogs_small/")[1] for line in lines if "cats, " in line] == [
        "train: 2 cats, 3 dogs (skipped 1 cat: empty or not decodable)",
        "validation: 2 cats, 1 dogs (skipped 1 dog: empty or not decodable)",
        "test: 2 cats, 2 dogs"]
    assert f"warning: skipped {EMPTY} of " in result.stderr and "empty file" in result.stderr
    assert f"warning: skipped {GARBAGE} of " in result.stderr and "cannot decode" in result.stderr
    assert "Thumbs" not in result.stdout + result.stderr  # ignored, not a picture of the subset
    assert "/4000" not in result.stdout  # --verbose 0: no progress bar


def prepare(tmp_path, *args, env=None):
    return run_script("convnet", "prepare", *args, "--data-dir", tmp_path / "data",
                      "--output-dir", tmp_path / "runs", "--verbose", "0", env=env)


def test_prepare_from_a_pet_images_folder_copies_the_book_s_names_once(tmp_path):
    pets = make_pet_images(tmp_path / "download" / "PetImages")
    before = snapshot(tmp_path / "download")

    result = prepare(tmp_path, "--source", pets)
    assert_prepared(result, copied=12, already_there=0)
    assert "Microsoft's layout" in result.stdout
    split = tmp_path / "data" / "cats_and_dogs_small"
    assert_book_subset(split)
    assert (split / "test" / "dogs" / "dog.1999.jpg").read_bytes() == \
        (pets / "Dog" / "1999.jpg").read_bytes()

    # Again, from the folder that holds PetImages/: nothing copied, the source untouched.
    copies = snapshot(split)
    again = prepare(tmp_path, "--source", tmp_path / "download")
    assert_prepared(again, copied=0, already_there=12)
    assert snapshot(split) == copies
    assert snapshot(tmp_path / "download") == before
    assert not list(split.rglob("*.partial"))


def zip_of(pets, path):
    """Microsoft's zip of the PetImages/ folder `pets` (its files under PetImages/)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme[1].txt", "Cats and dogs")
        for picture in sorted(pets.rglob("*")):
            archive.write(picture, picture.relative_to(pets.parent).as_posix())
    return path


def no_kaggle_credentials(monkeypatch, home):
    """No Kaggle API token, in HOME or the environment (kagglehub installed or not)."""
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KAGGLE_USERNAME", raising=False)
    monkeypatch.delenv("KAGGLE_KEY", raising=False)


def test_prepare_without_kaggle_credentials_reads_microsoft_s_zip(tmp_path, monkeypatch):
    cache = tmp_path / "keras_datasets"  # where get_file keeps its downloads
    cache.mkdir()
    archive = zip_of(make_pet_images(tmp_path / "pictures" / "PetImages"),
                     cache / getting_pictures.MICROSOFT_ZIP)
    asked = []

    def get_file(fname=None, origin=None, **kwargs):
        asked.append((fname, origin, kwargs))
        return str(archive)

    monkeypatch.setattr(keras.utils, "get_file", get_file)
    no_kaggle_credentials(monkeypatch, tmp_path / "home")
    monkeypatch.setattr(getting_pictures, "kagglehub_installed", lambda: True)
    result = prepare(tmp_path)
    # Checked against its SHA-256, not unpacked.
    assert asked == [(getting_pictures.MICROSOFT_ZIP, getting_pictures.MICROSOFT_URL, {
        "file_hash": getting_pictures.MICROSOFT_SHA256,
        "cache_dir": getting_pictures.keras_home()})]
    assert_prepared(result, copied=12, already_there=0)
    assert ("downloading Microsoft's copy (no Kaggle credentials found); --download kaggle "
            "takes Kaggle's") in result.stdout
    assert_book_subset(tmp_path / "data" / "cats_and_dogs_small")
    assert [path.name for path in cache.iterdir()] == [archive.name]  # nothing unpacked

    # The zip itself as --source: nothing downloaded, nothing left to copy.
    again = prepare(tmp_path, "--source", archive)
    assert_prepared(again, copied=0, already_there=12)
    assert len(asked) == 1


def test_microsoft_s_zip_is_checked_against_its_sha256(tmp_path, monkeypatch):
    # Keras's own get_file, "downloading" a stand-in zip from a file:// address.
    from support import outputs

    standin = zip_of(make_pet_images(tmp_path / "pictures" / "PetImages"), tmp_path / "z.zip")
    monkeypatch.setattr(getting_pictures, "MICROSOFT_URL", standin.as_uri())
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    (tmp_path / "keras_home").mkdir()  # (get_file uses /tmp/.keras where there is none)
    no_kaggle_credentials(monkeypatch, tmp_path / "home")
    downloaded = tmp_path / "keras_home" / "datasets" / getting_pictures.MICROSOFT_ZIP
    monkeypatch.setattr(getting_pictures, "MICROSOFT_SHA256", outputs.file_sha256(standin))
    assert_prepared(prepare(tmp_path, "--download", "microsoft"), copied=12, already_there=0)
    assert downloaded.is_file()

    downloaded.unlink()  # a file that changed on its way: another hash than the one expected
    monkeypatch.setattr(getting_pictures, "MICROSOFT_SHA256", "0" * 64)
    result = prepare(tmp_path / "again", "--download", "microsoft")
    assert_one_error_line(
        result, f"the downloaded {getting_pictures.MICROSOFT_ZIP} is not the file expected (an "
        f"interrupted or changed download): expected SHA-256 {'0' * 64} (824,887,076 bytes), "
        f"got SHA-256 {outputs.file_sha256(standin)} ({standin.stat().st_size:,} bytes); the "
        f"file was removed.", "--source PATH")
    assert not downloaded.exists()


@pytest.mark.parametrize("token, env, installed, expected, why", [
    (True, {}, True, "kaggle", "Kaggle credentials found"),
    (False, {"KAGGLE_USERNAME": "reader", "KAGGLE_KEY": "0123"}, True, "kaggle",
     "Kaggle credentials found"),
    (False, {"KAGGLE_USERNAME": "reader"}, True, "microsoft",  # no key
     "no Kaggle credentials found"),
    (True, {}, False, "microsoft", "kagglehub is not installed"),
    (False, {}, True, "microsoft", "no Kaggle credentials found"),
])
def test_kaggle_stays_the_default_where_its_credentials_are_set_up(
        tmp_path, monkeypatch, token, env, installed, expected, why):
    no_kaggle_credentials(monkeypatch, tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if token:
        (tmp_path / ".kaggle").mkdir()
        (tmp_path / ".kaggle" / "kaggle.json").write_text('{"username": "r", "key": "k"}')
    monkeypatch.setattr(getting_pictures, "kagglehub_installed", lambda: installed)
    download, line = getting_pictures.choose_download(None)
    assert download == expected
    other = "microsoft" if expected == "kaggle" else "kaggle"
    assert line.endswith(f"({why}); --download {other} takes {other.capitalize()}'s"), line
    # --download chooses whatever is set up.
    for asked in getting_pictures.DOWNLOADS:
        assert getting_pictures.choose_download(asked)[0] == asked
        assert f"(--download {asked})" in getting_pictures.choose_download(asked)[1]


def test_kagglehub_installed_reads_a_failed_import_as_not_installed(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "kagglehub", None)  # `import kagglehub` fails
    assert not getting_pictures.kagglehub_installed()


def assert_one_error_line(result, *needles):
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr + result.stdout
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("error: "), result.stderr
    for needle in needles:
        assert needle in message, (needle, message)


def test_offline_the_error_names_both_downloads_and_source(tmp_path, monkeypatch):
    def get_file(fname=None, origin=None, **kwargs):
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -3] Temporary failure "
                        f"in name resolution")

    monkeypatch.setattr(keras.utils, "get_file", get_file)
    no_kaggle_credentials(monkeypatch, tmp_path / "home")
    result = prepare(tmp_path)
    assert_one_error_line(
        result, "could not download Microsoft's copy", "Temporary failure in name resolution",
        getting_pictures.MICROSOFT_URL, "--download kaggle", "kagglehub", "kaggle.json",
        "KAGGLE_USERNAME", "--download microsoft", "--source", "PetImages/", "train/")
    assert not (tmp_path / "data").exists()


def test_a_source_in_neither_layout_names_both(tmp_path):
    (tmp_path / "test1").mkdir()
    (tmp_path / "test1" / "1.jpg").write_bytes(tiny_jpeg("cat", 1))  # Kaggle's unlabelled
    result = prepare(tmp_path, "--source", tmp_path / "test1")
    assert_one_error_line(result, "neither Kaggle's layout (cat.N.jpg and dog.N.jpg",
                          "nor Microsoft's (Cat/N.jpg and Dog/N.jpg", "test1/ has no labels")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        archive.writestr("photos/1.jpg", tiny_jpeg("dog", 1))
    with pytest.raises(getting_pictures.errors.DataUnavailable,
                       match=r"the zip file .*other\.zip holds neither Kaggle's"):
        getting_pictures.open_source(tmp_path / "other.zip")
    (tmp_path / "half.zip").write_bytes(b"PK\x03\x04 cut short")  # an interrupted download
    with pytest.raises(getting_pictures.errors.DataUnavailable,
                       match="not a folder nor a readable zip file .*delete it"):
        getting_pictures.open_source(tmp_path / "half.zip")


def test_a_zip_in_kaggle_s_layout_is_read_too(tmp_path):
    with zipfile.ZipFile(tmp_path / "train.zip", "w") as archive:
        for number in (0, 1000):
            for name in ("cat", "dog"):
                archive.writestr(f"train/{name}.{number}.jpg", tiny_jpeg(name, number))
    source = getting_pictures.open_source(tmp_path / "train.zip")
    copies = getting_pictures.copy_book_subset(source, tmp_path / "split", verbose=0)
    assert [copy.outcome for copy in copies].count("copied") == 4
    assert (tmp_path / "split" / "validation" / "dogs" / "dog.1000.jpg").read_bytes() == \
        tiny_jpeg("dog", 1000)


def test_source_and_download_exclude_each_other_and_smoke_never_downloads(tmp_path):
    both = prepare(tmp_path, "--source", tmp_path, "--download", "microsoft")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    smoke = prepare(tmp_path, "--smoke", "--download", "microsoft")
    assert_one_error_line(smoke, "--smoke never uses the network")


def test_prepare_smoke_source_is_a_kaggle_folder_of_sample_copies(tmp_path):
    folder = getting_pictures.sample_kaggle_train(tmp_path / "train", SAMPLE_SPLIT)
    assert len(list(folder.glob("cat.*.jpg"))) == 2000 == len(list(folder.glob("dog.*.jpg")))
    assert (folder / "cat.0.jpg").read_bytes() == (folder / "cat.64.jpg").read_bytes()
    copies = getting_pictures.copy_book_subset(getting_pictures.open_source(folder),
                                               tmp_path / "split",
                                           verbose=0)
    assert [copy.outcome for copy in copies] == ["copied"] * 4000


def test_the_progress_bar_counts_pictures_and_verbose_0_hides_it(tmp_path, capsys):
    source = getting_pictures.open_source(make_pet_images(tmp_path / "PetImages"))
    getting_pictures.copy_book_subset(source, tmp_path / "quiet", verbose=0)
    assert capsys.readouterr().out == ""
    getting_pictures.copy_book_subset(source, tmp_path / "shown", verbose=2)
    assert "4000/4000" in capsys.readouterr().out
