"""Getting the dogs-vs-cats pictures of Chapter 5 and copying the book's subset of them.

The book trains on 4,000 of the 25,000 labelled cat and dog pictures of the Asirra data
set, as Kaggle's "Dogs vs. Cats" competition published them. Two copies can be downloaded,
and `convnet.py prepare` takes either:

- Kaggle's (the book's): the competition's train.zip, whose train/ folder holds cat.N.jpg
  and dog.N.jpg. It needs a Kaggle account, an API token and the competition's rules
  accepted; kagglehub downloads it (`download_kaggle_train`).
- Microsoft's (no account): kagglecatsanddogs_5340.zip, whose PetImages/Cat/N.jpg and
  PetImages/Dog/N.jpg (N = 0..12499) are the same Asirra pictures; a few are empty or do
  not decode. keras.utils.get_file downloads it into ~/.keras/datasets, like every Keras
  download, and the pictures are read straight out of the zip: nothing is unpacked.

Without --download, prepare takes Kaggle's where Kaggle credentials are set up, else
Microsoft's (checked against its SHA-256). --source takes a folder in either layout, or a
zip, already on this machine. The README's results come from Kaggle's pictures.

`copy_book_subset` copies the book's split (picture_pipeline.SPLITS) into
`cats_and_dogs_small/<split>/<cats|dogs>/`, named cat.N.jpg and dog.N.jpg as in the book.
"""

import importlib.util
import io
import os
import re
import shutil
import sys
import tempfile
import zipfile
from collections import Counter, namedtuple
from pathlib import Path

from support import console, errors, outputs, picture_pipeline, smoke
from support.picture_pipeline import CLASS_NAMES, SPLITS

import keras

MICROSOFT_URL = ("https://download.microsoft.com/download/3/E/1/"
                 "3E1C3F21-ECDB-4869-8368-6DEBA77B919F/kagglecatsanddogs_5340.zip")
MICROSOFT_ZIP = "kagglecatsanddogs_5340.zip"
# The SHA-256 a public project checks its downloads of Microsoft's zip against, and its size
# as a public dataset card gives it. The zip's PetImages/Cat/666.jpg and Dog/11702.jpg are
# empty (666 is in the book's training range: 999 training cats come from this zip), and
# each class folder holds a Thumbs.db; both are skipped.
MICROSOFT_SHA256 = "b7974bd00a84a99921f36ee4403f089853777b5ae8d151c76a86e64900334af9"
MICROSOFT_BYTES = 824_887_076
DOWNLOADS = ("kaggle", "microsoft")

GET_PICTURES_HELP = (
    "Two downloads hold the pictures: `python files/convnet.py prepare --download kaggle` "
    "takes Kaggle's dogs-vs-cats data with kagglehub (pip install \".[kaggle]\"; Kaggle "
    "credentials in ~/.kaggle/kaggle.json or KAGGLE_USERNAME and KAGGLE_KEY; accept the "
    "competition's rules on https://www.kaggle.com/c/dogs-vs-cats/rules first), and "
    f"`prepare --download microsoft` takes Microsoft's public copy ({MICROSOFT_URL}, about "
    "790 MB, no account). Or download one yourself and run `prepare --source PATH`: Kaggle's "
    "unzipped train/ folder, Microsoft's zip or its unzipped PetImages/ folder."
)

# Where picture N of a class ("cat", "dog") lies in each layout, below its folder.
LAYOUTS = {"kaggle": "{name}.{number}.jpg", "microsoft": "{Name}/{number}.jpg"}
LAYOUT_NAMES = {"kaggle": "Kaggle's layout, cat.N.jpg",
                "microsoft": "Microsoft's layout, Cat/N.jpg"}
# The same in a zip's member names, with whatever folders come before (e.g. "PetImages/").
ZIP_PATTERNS = {"kaggle": re.compile(r"(?P<prefix>(?:.*/)?)cat\.\d+\.jpg"),
                "microsoft": re.compile(r"(?P<prefix>(?:.*/)?)Cat/\d+\.jpg")}
NEITHER_LAYOUT = (
    "neither Kaggle's layout (cat.N.jpg and dog.N.jpg, as in its train/ folder; test1/ has "
    "no labels) nor Microsoft's (Cat/N.jpg and Dog/N.jpg, in PetImages/ or in the folder)")


# --------------------------------------------------------------------------------------
# Where the pictures are: a folder or a zip, in Kaggle's or Microsoft's layout
# --------------------------------------------------------------------------------------


def relative_name(layout, name, number):
    return LAYOUTS[layout].format(name=name, Name=name.capitalize(), number=number)


class FolderSource:
    """Pictures in a folder: `find` gives a picture's path, or None when it is not there."""

    def __init__(self, folder, layout):
        self.folder, self.layout = Path(folder), layout

    def __str__(self):
        return f"{self.folder} ({LAYOUT_NAMES[self.layout]})"

    def find(self, name, number):
        path = self.folder / relative_name(self.layout, name, number)
        return path if path.is_file() else None

    def problem(self, path):
        """Why the picture cannot be used (a short text), or None."""
        return "empty file" if path.stat().st_size == 0 else picture_pipeline.image_problem(path)

    def copy(self, path, target):
        shutil.copyfile(path, target)

    def close(self):
        pass


class ZipSource:
    """Pictures read straight out of a zip file: no member is unpacked beside it, so the
    25,000 pictures of a download never have to be written out to take 4,000."""

    def __init__(self, archive, path, layout, prefix):
        self.archive, self.path, self.layout, self.prefix = archive, path, layout, prefix
        self.members = {info.filename: info for info in archive.infolist()}

    def __str__(self):
        return f"{self.path} ({LAYOUT_NAMES[self.layout]} in {self.prefix or 'the zip'})"

    def find(self, name, number):
        return self.members.get(self.prefix + relative_name(self.layout, name, number))

    def problem(self, member):
        """Why the picture cannot be used (a short text), or None."""
        if member.file_size == 0:
            return "empty file"
        return picture_pipeline.image_problem(io.BytesIO(self.archive.read(member)))

    def copy(self, member, target):
        with self.archive.open(member) as picture, open(target, "wb") as copy:
            shutil.copyfileobj(picture, copy)

    def close(self):
        self.archive.close()


def open_source(path):
    """A FolderSource or ZipSource for `path`: a folder in either layout, or one that holds
    the folder (PetImages/ or train/), or a zip file holding either."""
    path = Path(path)
    if path.is_file():
        return open_zip(path)
    if not path.is_dir():
        raise errors.DataUnavailable(f"source {path} not found. {GET_PICTURES_HELP}")
    for folder in (path, path / "PetImages", path / "train"):
        if any(folder.glob("cat.*.jpg")) and any(folder.glob("dog.*.jpg")):
            return FolderSource(folder, "kaggle")
        if any(folder.glob("Cat/*.jpg")) and any(folder.glob("Dog/*.jpg")):
            return FolderSource(folder, "microsoft")
    raise errors.DataUnavailable(f"{path} holds {NEITHER_LAYOUT}. {GET_PICTURES_HELP}")


def open_zip(path):
    """A ZipSource for the zip file at `path`, in whichever layout its member names follow."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise errors.DataUnavailable(
            f"{path} is not a folder nor a readable zip file ({errors.error_reason(error)}); "
            f"if it is an interrupted download, delete it and run prepare again. "
            f"{GET_PICTURES_HELP}") from None
    for layout, pattern in ZIP_PATTERNS.items():
        for name in archive.namelist():
            match = pattern.fullmatch(name)
            if match:
                return ZipSource(archive, path, layout, match["prefix"])
    archive.close()
    raise errors.DataUnavailable(f"the zip file {path} holds {NEITHER_LAYOUT}. "
                                  f"{GET_PICTURES_HELP}")


# --------------------------------------------------------------------------------------
# Downloading: Kaggle's copy (with credentials) or Microsoft's
# --------------------------------------------------------------------------------------


def kagglehub_installed():
    """Whether `import kagglehub` would work, without importing it."""
    if "kagglehub" in sys.modules:  # imported already (None: known not to import)
        return sys.modules["kagglehub"] is not None
    return importlib.util.find_spec("kagglehub") is not None


def kaggle_not_set_up():
    """Why kagglehub could not download Kaggle's copy here (a short text), or None: it
    needs the package and an API token, in ~/.kaggle/kaggle.json or the environment."""
    if not kagglehub_installed():
        return "kagglehub is not installed"
    if (Path.home() / ".kaggle" / "kaggle.json").is_file():
        return None
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return None
    return "no Kaggle credentials found"


def choose_download(download):
    """The download to take ("kaggle" or "microsoft") and a line saying which and why:
    `download` where given, else Kaggle's where it is set up (the book's pictures, and
    prepare's only source before Microsoft's), else Microsoft's."""
    if download is None:
        why = kaggle_not_set_up()
        download = "microsoft" if why else "kaggle"
        why = why or "Kaggle credentials found"
    else:
        why = f"--download {download}"
    if download == "kaggle":
        return download, (f"downloading Kaggle's copy with kagglehub ({why}); "
                          f"--download microsoft takes Microsoft's")
    return download, (f"downloading Microsoft's copy ({why}); --download kaggle takes "
                      f"Kaggle's")


def download_microsoft_zip():
    """Microsoft's zip of the pictures, downloaded once into ~/.keras/datasets and checked
    against its SHA-256. A file that is not the one expected (an interrupted or changed
    download) is removed, and said so in one `error:` line."""
    try:
        return Path(keras.utils.get_file(fname=MICROSOFT_ZIP, origin=MICROSOFT_URL,
                                         file_hash=MICROSOFT_SHA256, cache_dir=keras_home()))
    except ValueError:  # get_file's hash mismatch, which leaves the file behind
        raise errors.DataUnavailable(not_the_expected_zip()) from None
    except Exception as error:  # Keras raises a bare Exception on a failed fetch
        raise errors.DataUnavailable(
            f"could not download Microsoft's copy of the pictures "
            f"({errors.error_reason(error)}). {GET_PICTURES_HELP}") from None


def keras_home():
    """Where Keras keeps its downloads (KERAS_HOME, or ~/.keras)."""
    return os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")


def not_the_expected_zip():
    """Remove the zip get_file downloaded but refused, and say what came and what to do."""
    # Where get_file puts it: KERAS_HOME or ~/.keras, or a temporary folder's .keras where
    # that cannot be written (/tmp's where there is one, else the system's: Windows' TEMP).
    candidates = [Path(keras_home()).expanduser(), Path("/tmp/.keras"),
                  Path(tempfile.gettempdir()) / ".keras"]
    path = next((folder / "datasets" / MICROSOFT_ZIP for folder in candidates
                 if (folder / "datasets" / MICROSOFT_ZIP).is_file()), None)
    came = "no file"
    if path is not None:
        came = f"SHA-256 {outputs.file_sha256(path)} ({path.stat().st_size:,} bytes)"
        path.unlink()
    return (f"the downloaded {MICROSOFT_ZIP} is not the file expected (an interrupted or "
            f"changed download): expected SHA-256 {MICROSOFT_SHA256} ({MICROSOFT_BYTES:,} "
            f"bytes), got {came}; the file was removed. Run `prepare --download microsoft` "
            f"again to download it anew, or pass a copy you trust with --source PATH.")


def download_kaggle_train(folder):
    """Kaggle's dogs-vs-cats train/ folder, downloaded with kagglehub (needs credentials and
    the competition's rules accepted); train.zip is unpacked into `folder`."""
    try:
        import kagglehub
    except ImportError:
        raise errors.DataUnavailable(
            f"downloading Kaggle's copy needs the kagglehub package: pip install "
            f"\".[kaggle]\". {GET_PICTURES_HELP}") from None
    try:
        download = Path(kagglehub.competition_download("dogs-vs-cats"))
    except Exception as error:  # kagglehub raises many kinds: credentials, rules, network
        reason = errors.error_reason(error)
        raise errors.DataUnavailable(
            f"could not download dogs-vs-cats with kagglehub ({reason}). "
            f"{GET_PICTURES_HELP}") from None
    for candidate in (download / "train", download):
        if any(candidate.glob("cat.*.jpg")):
            return candidate
    archive = download / "train.zip"
    if not archive.is_file():
        raise errors.DataUnavailable(
            f"kagglehub's download in {download} holds neither train/ nor train.zip. "
            f"{GET_PICTURES_HELP}")
    unpacked = Path(folder) / "dogs-vs-cats"
    if not (unpacked / "train").is_dir():
        print(f"unpacking {archive} into {unpacked}")
        # Unpacked under a temporary name, so an interrupted run is never taken as done.
        partial = unpacked.with_name(unpacked.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(partial)
        outputs.replace(partial, unpacked)
    return unpacked / "train"


def sample_kaggle_train(folder, sample_split):
    """For `prepare --smoke`: a Kaggle-style train/ folder (cat.0.jpg ... dog.1999.jpg) made
    of copies of the committed sample pictures in `sample_split`, taken in turn."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in CLASS_NAMES:
        pictures = sorted(Path(sample_split).glob(f"*/{name}s/*.jpg"))
        for number in range(SPLITS["test"].stop):
            shutil.copyfile(pictures[number % len(pictures)], folder / f"{name}.{number}.jpg")
    return folder


def find_pictures(source, download, download_folder, smoke_folder=None):
    """The path prepare copies from: `source`, else (--smoke) a folder of sample pictures,
    else a download (`download`, or the default for this machine)."""
    if source is not None:
        return source
    if smoke_folder is not None:
        if download is not None:
            raise errors.InputError("--smoke never uses the network: leave --download out, "
                                     "or --smoke")
        sample_pictures = smoke.SAMPLE_DATA_DIR / "cats_and_dogs_small"
        return sample_kaggle_train(smoke_folder, sample_pictures)
    download, line = choose_download(download)
    print(line)
    if download == "kaggle":
        return download_kaggle_train(download_folder)
    return download_microsoft_zip()


# --------------------------------------------------------------------------------------
# Copying the book's subset
# --------------------------------------------------------------------------------------

Copy = namedtuple("Copy", "split name number outcome reason", defaults=(None,))
Copy.__doc__ = """What became of one picture of the book's subset: its split, class ("cat",
"dog") and number, and its outcome: "copied", "already there", "missing" (not in the
source) or "skipped" (empty or does not decode; `reason` says which)."""


def copy_picture(source, name, number, target):
    """Copy picture `number` of class `name` from `source` to `target`: a Copy's outcome
    and reason."""
    if target.exists():
        return "already there", None
    found = source.find(name, number)
    if found is None:
        return "missing", None
    problem = source.problem(found)
    if problem:
        return "skipped", problem
    # Copy under a temporary name first, so an interrupted run never leaves half a
    # picture that the next run would take as done.
    partial = target.with_name(target.name + ".partial")
    source.copy(found, partial)
    outputs.replace(partial, target)
    return "copied", None


def copy_book_subset(source, destination, verbose=1):
    """Copy the book's subset out of `source` (a FolderSource or ZipSource) into
    destination/<split>/<cats|dogs>/, with a progress bar (none with verbose 0).

    Copies only (the source is never changed) and skips pictures already there, so a
    second run copies nothing. Returns a Copy for each picture of the subset."""
    wanted = [(split, name, number) for split, numbers in SPLITS.items()
              for name in CLASS_NAMES for number in numbers]
    for split in SPLITS:
        for name in CLASS_NAMES:
            (Path(destination) / split / f"{name}s").mkdir(parents=True, exist_ok=True)
    # prepare has no epochs: any --verbose but 0 shows the bar as it moves.
    progress = outputs.progress_bar(len(wanted), verbose, unit_name="picture")
    copies = []
    for step, (split, name, number) in enumerate(wanted, start=1):
        target = Path(destination) / split / f"{name}s" / f"{name}.{number}.jpg"
        copies.append(Copy(split, name, number, *copy_picture(source, name, number, target)))
        progress.update(step)
    return copies


def report(source, destination, copies):
    """Warnings for the pictures skipped or missing, one line per split with the cats and
    dogs `destination` holds (and how many of each this run skipped), then the totals."""
    for copy in copies:
        if copy.outcome == "skipped":
            where = relative_name(source.layout, copy.name, copy.number)
            console.say(f"warning: skipped {where} of {source}: {copy.reason}", file=sys.stderr)
    missing = [copy for copy in copies if copy.outcome == "missing"]
    if missing:
        first = relative_name(source.layout, missing[0].name, missing[0].number)
        console.say(f"warning: {len(missing)} pictures not in {source} (first: {first})",
                    file=sys.stderr)
    skipped = Counter((copy.split, copy.name) for copy in copies if copy.outcome == "skipped")
    for split in SPLITS:
        sizes = [len(list((destination / split / f"{name}s").glob("*.jpg")))
                 for name in CLASS_NAMES]
        notes = [f"{skipped[split, name]} {name}{'s' if skipped[split, name] > 1 else ''}"
                 for name in CLASS_NAMES if skipped[split, name]]
        print(f"{destination / split}: {sizes[0]} cats, {sizes[1]} dogs"
              + (f" (skipped {' and '.join(notes)}: empty or not decodable)" if notes else ""))
    outcomes = Counter(copy.outcome for copy in copies)
    print(f"copied {outcomes['copied']}, already there {outcomes['already there']}, "
          f"skipped {outcomes['skipped']} that are empty or do not decode, "
          f"{outcomes['missing']} missing from the source")
    return outcomes


def prepare(args):
    """`convnet.py prepare`: the book's subset copied into DATA_DIR/cats_and_dogs_small/
    (with --smoke and no --data-dir: OUTPUT_DIR/cats_and_dogs_small/, OUTPUT_DIR being the
    stage's folder) from --source, or from a download (see find_pictures; with --smoke,
    copies of the sample pictures in OUTPUT_DIR/kaggle_train/). Returns (results, details)
    for metrics.json."""
    destination = Path(args.data_dir or picture_pipeline.DEFAULT_DATA_DIR) / "cats_and_dogs_small"
    if args.smoke and args.data_dir is None:
        destination = args.output_dir / "cats_and_dogs_small"
    smoke_folder = args.output_dir / "kaggle_train" if args.smoke else None
    pictures = open_source(find_pictures(args.source, args.download, destination.parent,
                                         smoke_folder))
    try:
        print(f"copying the book's subset of {pictures} into {destination}")
        copies = copy_book_subset(pictures, destination, args.verbose)
    finally:
        pictures.close()
    outcomes = report(pictures, destination, copies)
    skipped = [f"{relative_name(pictures.layout, copy.name, copy.number)}: {copy.reason}"
               for copy in copies if copy.outcome == "skipped"]
    return ({"copied": outcomes["copied"], "already_there": outcomes["already there"],
             "skipped": outcomes["skipped"], "missing": outcomes["missing"]},
            {"destination": str(destination), "source": str(pictures),
             "skipped_files": skipped})
