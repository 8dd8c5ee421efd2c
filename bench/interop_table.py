"""The table of docs/interop.md from the interop checks' results.jsonl (bench/interop.sh): one row per case,
whether the library (or gotune, for the AdapterHub -> gotune cases) loaded the files as written, and the
largest |logit difference| between the two sides. usage: python3 interop_table.py RESULTS.jsonl"""
import json, sys

rows = {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    rows[d["case"]] = d  # the last record of a case wins

DIFFS = ["maxdiff_text", "maxdiff_ids", "maxdiff_vs_peft", "maxdiff_vs_gotune", "maxdiff_vs_peft_unmerged",
         "maxdiff_vs_gotune_adapter", "gotune_adapterflag_vs_adapters", "gotune_predict_merged_vs_transformers"]


def nested_max(v):
    """max over a {kind: diff or {"error": ...}} map; (max, first error)."""
    m, err = None, None
    for x in v.values():
        if isinstance(x, dict):
            err = err or x.get("error", "error")
        elif isinstance(x, (int, float)):
            m = x if m is None else max(m, x)
    return m, err


def fmt(x):
    return "—" if x is None else ("0" if x == 0 else "%.2g" % x)


print("| case | loaded without edits? | max \\|diff\\| | note |")
print("|---|---|---|---|")
for case, d in rows.items():
    note = []
    if case.endswith("/weights-vs-base"):
        moved = len(d.get("moved", []))
        same = len(d.get("bit_identical", []))
        print("| %s | yes | — | %d weight groups trained, %d bit-identical to the base; missing from the save: %d |"
              % (case, moved, same, len(d.get("missing_from_save", []))))
        continue
    diffs = [d[k] for k in DIFFS if isinstance(d.get(k), (int, float))]
    ok = not d.get("error") and not d.get("as_is_use_safetensors_error") and not d.get("manual_conversion")
    if d.get("error"):
        note.append(d["error"].strip().splitlines()[-1][:160])
    if d.get("as_is_use_safetensors_error"):
        note.append("as written: " + d["as_is_use_safetensors_error"][:160])
    missing = d.get("peft_missing_adapter_keys")
    if isinstance(missing, list) and missing:
        ok = False
        note.append("PEFT found no weights for: " + ", ".join(missing)[:160])
    elif isinstance(missing, str) and missing:  # the check itself could not run
        note.append(missing[:160])
    if d.get("default_load_adapter_error"):
        note.append("load_adapter(dir) without use_safetensors=True looks for pytorch_adapter.bin")
    for k, label in (("gotune_on_default_save", "AdapterHub's default save (.bin)"),
                     ("gotune_on_safetensors", "AdapterHub's safetensors save")):
        if k in d:
            m, err = nested_max(d[k])
            if err:
                ok = False
                note.append("%s: %s" % (label, str(err)[:160]))
            if m is not None:
                diffs.append(m)
                note.append("%s %s" % (label, fmt(m)))
    if "adapters_self_reload" in d:
        note.append("adapters reloading its own save %s" % fmt(d["adapters_self_reload"]))
    print("| %s | %s | %s | %s |" % (case, "yes" if ok else "**no**", fmt(max(diffs) if diffs else None), "; ".join(note)))
