"""Every file the package writes goes through warmstart._atomic (or a temporary folder).

A static audit of the package source: calls that create files (``open(..., "w")``,
``write_text``, ``write_bytes``, ``np.save``, ``torch.save``, ``save_file``,
``savefig``, ``torch.onnx.export``, TorchScript ``.save``, ``tarfile.open(..., "w")``)
must sit inside a ``with atomic_path(...)`` block or a ``TemporaryDirectory``, or be
listed below with the reason they are safe. An interrupted ``pretrain``, ``export`` or
report therefore never leaves a half-written file: readers see the old file or the
new one (the interrupted-run checks are in test_killed_runs.py and the benchmark).
"""

from __future__ import annotations

import ast
from pathlib import Path

import warmstart

PACKAGE = Path(warmstart.__file__).parent
WRITERS = {"write_text", "write_bytes", "save", "savez", "savez_compressed", "save_file", "savefig", "export",
           "dump"}
SAFE_CONTEXTS = {"atomic_path", "TemporaryDirectory", "NamedTemporaryFile", "mkdtemp"}
# (file, function): why the write is safe
ALLOWED = {
    ("_atomic.py", "write_text_atomic"): "the atomic helper itself (writes the temporary path)",
    ("_atomic.py", "write_bytes_atomic"): "the atomic helper itself (writes the temporary path)",
    ("report/plots.py", "png_data_uri"): "savefig into an in-memory buffer",
    ("export/exporter.py", "_export_torchscript"): "writes the temporary path export_model's atomic_path yields",
    ("export/exporter.py", "_export_onnx"): "writes the temporary path export_model's atomic_path yields",
    ("export/_metadata.py", "write_onnx_metadata"): "rewrites that temporary file before export_model's rename",
    ("cli/kb.py", "kb_fit_prior"): "Prior.save writes through write_bytes_atomic",
}


def _call_name(node: ast.Call) -> str | None:
    f = node.func
    if isinstance(f, ast.Attribute):
        return f.attr
    if isinstance(f, ast.Name):
        return f.id
    return None


def _writes_file(node: ast.Call) -> bool:
    name = _call_name(node)
    if name == "open":
        modes = [a for a in node.args[1:2]] + [k.value for k in node.keywords if k.arg == "mode"]
        return any(isinstance(m, ast.Constant) and isinstance(m.value, str) and set(m.value) & set("wax")
                   for m in modes)
    if name == "dump":  # json.dump / pickle.dump to a file handle: the handle's open() is what counts
        return False
    if name == "export":
        return isinstance(node.func, ast.Attribute) and ast.unparse(node.func).endswith("onnx.export")
    if name == "save":
        return True
    return name in WRITERS


def _violations(path: Path, root: Path = PACKAGE) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rel = path.relative_to(root).as_posix()
    out: list[str] = []

    def visit(node: ast.AST, safe: bool, func: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            func = node.name
        if isinstance(node, (ast.With, ast.AsyncWith)):
            ctx = {_call_name(i.context_expr) for i in node.items if isinstance(i.context_expr, ast.Call)}
            safe = safe or bool(ctx & SAFE_CONTEXTS)
        if isinstance(node, ast.Call) and _writes_file(node) and not safe and (rel, func) not in ALLOWED:
            if not _reads_only(node):
                out.append(f"{rel}:{node.lineno} in {func}(): {ast.unparse(node)[:90]}")
        for child in ast.iter_child_nodes(node):
            visit(child, safe, func)

    visit(tree, False, "<module>")
    return out


def _reads_only(node: ast.Call) -> bool:
    # BytesIO targets and the like: savefig(buf, ...) / torch.save(obj, buffer)
    target = node.args[0] if node.args else None
    return isinstance(target, ast.Name) and target.id in {"buf", "buffer", "bio", "stream"}


def test_package_writes_are_atomic() -> None:
    bad = [v for p in sorted(PACKAGE.rglob("*.py")) for v in _violations(p)]
    assert not bad, "writes that bypass warmstart._atomic:\n" + "\n".join(bad)


def test_audit_catches_a_plain_write(tmp_path: Path) -> None:
    src = tmp_path / "mod.py"
    src.write_text("def f(p):\n    open(p, 'w').write('x')\n\ndef g(p):\n"
                   "    from warmstart._atomic import atomic_path\n    with atomic_path(p) as t:\n"
                   "        open(t, 'w').write('x')\n")
    found = _violations(src, tmp_path)
    assert len(found) == 1 and "in f()" in found[0]
