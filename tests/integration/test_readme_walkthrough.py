"""The README's "Trying it with the sample client" (two tablets), run as written against a real
turfd --demo: its command block line by line (with the code and address this
turfd printed, and the built turf-tablet), then both tablets' attendance must
be what the README shows the reader, arrival times apart."""
import os
import re
import shlex
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from turfd_proc import TABLET, run_test, start_turfd  # noqa: E402

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")
README_CODE, README_URL = "K7MPQ2XA", "ws://127.0.0.1:7780"
ARRIVAL = re.compile(r"^(  .*\t(?:present|absent|excused)\t)\d\d:\d\d(\t)", re.M)


def walkthrough():
    """The section's two code blocks: the commands and what they print."""
    text = open(README).read()
    section = text[text.index("## Trying it with the sample client"):]
    section = section[:section.index("\n## ", 1)]
    blocks = re.findall(r"^```\n(.*?)^```$", section, re.M | re.S)
    assert len(blocks) == 2, blocks
    return blocks[0].splitlines(), blocks[1]


async def main(tmp):
    commands, shown = walkthrough()
    assert commands[0] == "t=./build/clients/sample/turf-tablet", commands[0]
    with open(os.path.join(tmp, "turfd.log"), "ab") as log:
        proc, url, code = start_turfd(tmp, log, "--demo")
        outputs = {}
        for line in commands[1:]:
            run = line.replace("$t ", shlex.quote(TABLET) + " ", 1)
            run = run.replace(README_CODE, code).replace(README_URL, url)
            p = subprocess.run(["bash", "-c", run], cwd=tmp, capture_output=True, text=True,
                               timeout=60)
            assert p.returncode == 0, (line, p.stdout, p.stderr)
            outputs[line.split("#")[0].strip()] = p.stdout

        sessions = outputs["$t --db zaal1.db sessions"]
        assert [r.split("\t")[2] for r in sessions.splitlines()] == \
            ["Koffieochtend", "Time to Dance"], sessions
        expected = ARRIVAL.sub(r"\1HH:MM\2", shown)
        for tablet in ("zaal1", "entree"):
            got = outputs["$t --db %s.db attendance" % tablet]
            assert ARRIVAL.sub(r"\1HH:MM\2", got) == expected, (tablet, got, shown)
        proc.terminate()
        assert proc.wait(timeout=30) == 0


run_test(main, "turf-readme-", 120)
