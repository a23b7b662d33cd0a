"""Write `reviewed: "sha256:..."` into an invariants file, changing nothing else in it.

ruamel.yaml's round-trip loader tells where each invariant and its keys are
written; the edit itself is made on the text, one line per invariant, because
even a round-trip dump re-indents sequences and re-wraps long strings that
the team laid out by hand. The result is parsed again and compared with what
was intended; only when that check fails (an invariant written in flow style,
a value on its own line) is the whole document dumped by ruamel instead.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from ruamel.yaml import YAML

from pytest_invariants.load.yamlsafe import decode_text, text_encoding
from pytest_invariants.results import WriteError, write_atomically

__all__ = ["ReviewError", "set_reviewed", "write_reviewed"]

KEY: Final = "reviewed"


class ReviewError(Exception):
    """The file cannot be edited; the message says why and what to do."""


def _yaml() -> Any:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    return yaml


def _load(yaml: Any, text: str, where: str) -> Any:
    try:
        return yaml.load(text)
    except Exception as exc:  # noqa: BLE001 - ruamel raises many unrelated types
        raise ReviewError(f"{where}: cannot be read as YAML ({exc})") from None


def _targets(doc: Any, ids: Mapping[str, str], where: str) -> dict[str, Any]:
    """Return the mapping of each wanted id in the document."""
    items = doc.get("invariants") if hasattr(doc, "get") else None
    found = {item.get("id"): item for item in items or () if hasattr(item, "get")}
    missing = sorted(set(ids) - set(found))
    if missing:
        raise ReviewError(f"{where}: no invariant with id {', '.join(missing)} in this file")
    return {iid: found[iid] for iid in ids}


# -- text edits ---------------------------------------------------------------------


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_filler(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _block_end(lines: list[str], last_key_line: int, col: int) -> int:
    """Return the index after the last line of the mapping whose keys sit at column `col`."""
    end = last_key_line + 1
    for index in range(last_key_line + 1, len(lines)):
        line = lines[index]
        if _is_filler(line):
            continue
        stripped = line.lstrip(" ")
        # A block sequence may sit at the key's own column (`code:\n- a`).
        inside = _indent(line) > col or (
            _indent(line) == col and stripped.startswith("-") and not stripped.startswith("---")
        )
        if not inside:
            break
        end = index + 1
    return end


def _scalar_end(line: str, start: int) -> int:
    """Return where the one-line scalar starting at `start` ends (its comment stays)."""
    quote = line[start : start + 1]
    if quote in ("'", '"'):
        index = start + 1
        while index < len(line):
            if line[index] == "\\" and quote == '"':
                index += 2
                continue
            if line[index] == quote:
                if quote == "'" and line[index + 1 : index + 2] == "'":
                    index += 2
                    continue
                return index + 1
            index += 1
        return len(line.rstrip("\r\n"))
    comment = line.find(" #", start)
    body = line.rstrip("\r\n")
    return len(body[:comment].rstrip()) if comment != -1 else len(body.rstrip())


def _edit(lines: list[str], item: Any, value: str, newline: str) -> bool:
    """Set `reviewed:` of one invariant in `lines`; return False when a text edit cannot."""
    quoted = f'"{value}"'
    # Keys a merge key (`<<: *base`) brought in have no position in this mapping:
    # only the mapping's own keys are edited or used to find where it ends.
    own = [key for key in item if key in item.lc.data]
    if KEY in own:
        key_line, _ = item.lc.key(KEY)
        value_line, value_col = item.lc.value(KEY)
        if value_line != key_line:
            return False
        line = lines[value_line]
        lines[value_line] = line[:value_col] + quoted + line[_scalar_end(line, value_col) :]
        return True
    if item.fa.flow_style() or not own:
        return False
    col = item.lc.col
    last_key = max(own, key=lambda key: item.lc.key(key)[0])
    end = _block_end(lines, item.lc.key(last_key)[0], col)
    if end and not lines[end - 1].endswith(("\n", "\r")):
        lines[end - 1] += newline
    lines.insert(end, f"{' ' * col}{KEY}: {quoted}{newline}")
    return True


def _plain(node: Any) -> Any:
    if hasattr(node, "items"):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _expected(doc: Any, ids: Mapping[str, str]) -> Any:
    data = _plain(doc)
    for item in data.get("invariants") or ():
        if isinstance(item, dict) and item.get("id") in ids:
            item[KEY] = ids[item["id"]]
    return data


def _text_edit(yaml: Any, text: str, doc: Any, ids: Mapping[str, str], where: str) -> str | None:
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    targets = _targets(doc, ids, where)
    # Bottom-up, so earlier edits do not move the lines later ones point at.
    for iid, item in sorted(targets.items(), key=lambda pair: -int(pair[1].lc.line)):
        if not _edit(lines, item, ids[iid], newline):
            return None
    edited = "".join(lines)
    try:
        check = yaml.load(edited)
    except Exception:  # noqa: BLE001 - a failed edit falls back to a full dump
        return None
    return edited if _plain(check) == _expected(doc, ids) else None


def _dump_edit(yaml: Any, doc: Any, ids: Mapping[str, str], where: str) -> str:
    for iid, item in _targets(doc, ids, where).items():
        item[KEY] = ids[iid]
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def set_reviewed(text: str, fingerprints: Mapping[str, str], where: str = "<text>") -> str:
    """Return `text` with `reviewed:` set for each id in `fingerprints`; nothing else changes."""
    yaml = _yaml()
    doc = _load(yaml, text, where)
    edited = _text_edit(yaml, text, doc, fingerprints, where)
    if edited is not None:
        return edited
    return _dump_edit(yaml, _load(yaml, text, where), fingerprints, where)


def write_reviewed(path: Path, fingerprints: Mapping[str, str]) -> list[str]:
    """Write the fingerprints into the file `path`; return the ids whose value changed."""
    where = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReviewError(f"{where}: cannot read ({exc.strerror or exc})") from None
    decoded = decode_text(data)  # UTF-16 files too, exactly as the loader reads them
    if decoded is None:
        raise ReviewError(f"{where}: not UTF-8 or UTF-16 text -- save it as UTF-8")
    text = decoded
    yaml = _yaml()
    doc = _load(yaml, text, where)
    current = {iid: item.get(KEY) for iid, item in _targets(doc, fingerprints, where).items()}
    changed = {iid: fp for iid, fp in fingerprints.items() if current[iid] != fp}
    if not changed:
        return []
    new_text = set_reviewed(text, changed, where)
    # Written back in the encoding it was read in (a UTF-16 file stays UTF-16).
    encoding = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else text_encoding(data)
    encoding = "utf-8" if encoding == "utf-8-sig" and not data.startswith(b"\xef") else encoding
    try:
        write_atomically(path, new_text, encoding)
    except WriteError as exc:
        raise ReviewError(str(exc)) from None
    return sorted(changed)
