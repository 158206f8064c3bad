#!/usr/bin/env python3
"""Regenerates ristretto255-sha512.json from the CPace draft's Markdown source.

Usage: git --git-dir=<clone of github.com/cfrg/draft-irtf-cfrg-cpace> \
           show draft-irtf-cfrg-cpace-21:draft-irtf-cfrg-cpace.md > draft.md
       python3 extract_vectors.py draft.md > ristretto255-sha512.json

It decodes, unchanged, the base64 JSON test-vector blocks of the appendix
(string utilities, transcript_ir, and the ristretto255/SHA-512 section), and
copies the hex values of the ristretto255 "ISK calculation
initiator/responder" text block, which has no JSON twin. Nothing is computed.
"""
import base64
import json
import re
import sys

src = open(sys.argv[1]).read()


def json_blocks(start, end):
    s = src.index(start)
    part = src[s:src.index(end, s)]
    out = []
    for m in re.finditer(r"~~~ test-vectors\n(.*?)~~~", part, re.S):
        b64 = "".join(l.strip().lstrip("#") for l in m.group(1).strip().split("\n"))
        out.append(json.loads(base64.b64decode(b64)))
    return out


def text_block(section, heading):
    s = src.index(heading, src.index(section))
    open_ = src.index("~~~", s) + 3
    block = src[open_:src.index("~~~", open_)]
    items, label, buf = {}, None, ""
    for line in block.split("\n"):
        t = line.strip()
        if not t:
            continue
        if re.fullmatch(r"[0-9a-f]+", t):
            buf += t
            continue
        if label and buf:
            items[label] = buf.upper()
        buf = ""
        if not t.startswith("(length"):
            label = t
    if label and buf:
        items[label] = buf.upper()
    return items


ris = "##  Test vector for CPace using group ristretto255"
utils = json_blocks("## Definition and test vectors for string utility functions",
                    "## Definition of generator")
tr = json_blocks("### Test vectors transcript\\_ir function",
                 "### Definitions for transcript\\_oc")
group = json_blocks(ris, "##  Test vector for CPace using group decaf448")
isk = text_block(ris, "###  Test vector for ISK calculation initiator/responder")
out = {
    "source": "draft-irtf-cfrg-cpace-21 (git tag draft-irtf-cfrg-cpace-21, "
              "commit 8fb4056e1b9201927d9f651b9970d9d5660c7892 of "
              "github.com/cfrg/draft-irtf-cfrg-cpace), appendix; extracted "
              "by extract_vectors.py, values unchanged",
    "prepend_len": utils[0],
    "lv_cat": utils[1],
    "transcript_ir": tr[0],
    "calculate_generator": group[0],
    "exchange": group[1],
    "scalar_mult_vfy": group[2],
    "isk_ir": {
        "transcript_ir(Ya,ADa,Yb,ADb)": isk["transcript_ir(Ya,ADa,Yb,ADb): (length: 74 bytes)"],
        "DSI_ISK": isk["DSI = G.DSI_ISK, b'CPaceRistretto255_ISK':"],
        "lv_cat(DSI_ISK,sid,K)||transcript_ir(Ya,ADa,Yb,ADb)": isk["lv_cat(DSI,sid,K)||transcript_ir(Ya,ADa,Yb,ADb):"],
        "ISK": isk["ISK result: (length: 64 bytes)"],
    },
}
json.dump(out, sys.stdout, indent=1, sort_keys=True)
sys.stdout.write("\n")
