"""A split's files read from the data root: JSON lines and XML records, id lists, and the data
cache's fetch of a pinned file that is missing; each bounded and each failure named by the spec's
file, field and value."""

from __future__ import annotations

import contextlib
import logging
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from suite.errors import SpecError, cut
from suite.paths import data_cache_dir
from suite.specs import Split, TaskSpec
from suite.strict import read_bytes


def missing_file(spec: TaskSpec, field: str, name: str, root: Path) -> Path:
    """A data file not under the root: fetched into the cache (pinned URL, sha256 checked) when
    the root is the cache, else an error that names the fix."""
    from suite.fetch import fetch_one, source_entry

    fix = (
        f"fetch the suite's datasets with `python -m suite fetch {root}`, or set SUITE_DATA_DIR "
        "to a folder that holds them"
    )
    path = root / name
    if path.exists() or path.is_symlink():  # there, but not a regular file: say what it is
        message = f"not a regular file under data root {root} (a folder, FIFO, device or link)"
        raise SpecError(spec.path, field, name, message)
    if root != data_cache_dir():
        raise SpecError(spec.path, field, name, f"file not found under data root {root}; {fix}")
    entry = source_entry(name)
    if entry is None:
        raise SpecError(
            spec.path,
            field,
            name,
            f"not in the data cache {root} and not a file of the suite's data sources; set "
            "SUITE_DATA_DIR to a folder that holds it",
        )
    try:
        fetch_one(root, entry)
    except (OSError, ValueError) as e:
        raise SpecError(spec.path, field, name, f"cannot fetch into the data cache: {e}") from e
    return root / name


def read_xml_records(path: Path, tag: str) -> list[dict[str, str]]:
    """Each ``<tag>`` element as a dict of its attributes and its children's (stripped) text."""
    records = []
    for element in ET.parse(path).getroot().iter(tag):
        record = dict(element.attrib)
        for child in element:
            record[child.tag] = (child.text or "").strip()
        records.append(record)
    return records


@contextlib.contextmanager
def _quiet_datasets():
    """No progress bars while reading small local files; restore the user's setting after."""
    import datasets

    enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    logger = logging.getLogger("datasets")  # its own report of a bad file: ours names the spec
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield datasets
    finally:
        logger.setLevel(level)
        if enabled:
            datasets.enable_progress_bars()


def _innermost(err: BaseException) -> BaseException:
    """The first cause of ``err`` (datasets wraps pyarrow's parse error in its own), at most
    8 deep."""
    for _ in range(8):
        cause = err.__cause__
        if cause is None:
            break
        err = cause
    return err


MAX_SPLIT_BYTES = 256 << 20  # a split's data files together; the bundled largest is 4.2 MB


def read_local(spec: TaskSpec, split: Split, root: Path) -> list[dict[str, Any]]:
    field = f"splits.{split.name}.files"
    paths, size = [], 0
    for i, name in enumerate(split.files):
        path = root / name
        paths.append(path if path.is_file() else missing_file(spec, f"{field}[{i}]", name, root))
        size += paths[-1].stat().st_size
        if size > MAX_SPLIT_BYTES:
            message = (
                f"its files come to {size:,} bytes by {name}; a split's data files are at "
                f"most {MAX_SPLIT_BYTES:,} bytes together"
            )
            raise SpecError(spec.path, f"{field}[{i}]", name, message)
    fmt = spec.source.format
    try:
        if fmt == "xml":
            return [r for p in paths for r in read_xml_records(p, spec.source.record_tag)]
        files = [str(p) for p in paths]  # the Arrow copy: in a folder removed after reading
        with _quiet_datasets() as datasets, tempfile.TemporaryDirectory() as tmp:
            kept = dict(cache_dir=tmp, keep_in_memory=True)  # not the user's HF cache
            return datasets.load_dataset("json", data_files=files, split="train", **kept).to_list()
    except Exception as e:  # parse errors from xml.etree, pyarrow or datasets
        cause = _innermost(e)
        why = f"cannot read as {fmt}: {type(cause).__name__}: {cut(str(cause))}"  # may be empty
        raise SpecError(spec.path, field, list(split.files), why) from e


MAX_ID_FILE_BYTES = 16 << 20  # a split's id list: the bundled ones are a few kilobytes


def read_ids(spec: TaskSpec, split: Split, root: Path) -> set[str]:
    field = f"splits.{split.name}.id_files"
    ids: set[str] = set()
    for i, name in enumerate(split.id_files):
        path = root / name
        if not path.is_file():
            path = missing_file(spec, f"{field}[{i}]", name, root)
        try:
            text = read_bytes(path, "an id file", MAX_ID_FILE_BYTES).decode("utf-8")
        except SpecError as err:
            raise SpecError(spec.path, f"{field}[{i}]", name, f"{path}: {err.message}") from None
        except UnicodeDecodeError as err:
            message = f"{path} is not UTF-8 text of one id a line (byte {err.start}); refused"
            raise SpecError(spec.path, f"{field}[{i}]", name, message) from None
        ids.update(line.strip() for line in text.splitlines())
    ids.discard("")
    return ids
