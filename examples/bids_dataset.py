"""Put a MEF 3.0 session into a BIDS-iEEG dataset, with its sidecars.

Usage: python examples/bids_dataset.py [SESSION.mefd] [BIDS_ROOT]
Without arguments the example session shipped with neo_mef3 goes to a temporary dataset.
The same from the shell: neo-mef3 bids SESSION.mefd BIDS_ROOT --subject 01 --task rest
"""
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

import neo_mef3
from neo_mef3.bids import write_bids

path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(neo_mef3.__file__), "data", "example.mefd")
root = sys.argv[2] if len(sys.argv) > 2 else os.path.join(tempfile.mkdtemp(), "bids")

with warnings.catch_warnings(record=True):  # the notes come back in the result as well
    warnings.simplefilter("always")
    result = write_bids(path, root, subject="01", session="01", task="rest", power_line_frequency=50,
                        reference="common average",
                        electrodes={"Hippo1": (-24.0, -18.5, -12.0)}, coordinate_system="ACPC")
print("session placed at", os.path.relpath(result["session_path"], root))
for f in result["files"][1:]:
    print("  wrote", os.path.relpath(f, root))
for note in result["notes"]:
    print("note:", note)
with open(result["session_path"][: -len("_ieeg.mefd")] + "_events.tsv") as f:
    print(f.read())

validator = shutil.which("bids-validator-deno")  # pip install bids-validator-deno
if validator:
    p = subprocess.run([validator, root, "--ignoreWarnings"], capture_output=True, text=True, timeout=120)
    print("bids-validator-deno:", "valid" if p.returncode == 0 else p.stdout[-2000:])
