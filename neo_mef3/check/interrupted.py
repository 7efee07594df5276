"""What an interrupted append left in a segment: index entries past the count the index
header declares, metadata and data headers behind the index, a torn index entry, whole
entries that do not continue the index, bytes after the last indexed block
(``index.interrupted-write``; the Writer's repair completes or removes them)."""


def _check_interrupted_write(report, sf, dec, found, junk_entries, declared_dat):
    """`dec`: what the metadata declares; `found`: the segment's index and data file as
    found; `declared_dat`: the block count the data file's header declares."""
    indexed, committed, uncommitted = found["index_entries"], found["committed_entries"], found["uncommitted_entries"]
    torn, tail = found["torn_index_bytes"], found["tail_bytes"]
    if uncommitted:
        report.problem(sf.tidx, f"{uncommitted} index entr{'y' if uncommitted == 1 else 'ies'} past the "
                       f"{committed} the header declares: an append was interrupted after writing them (their "
                       "blocks are read; `neo-mef3 repair`, or opening a Writer on the session, completes the segment)")
    if dec["blocks"] < indexed and not uncommitted:
        report.problem(sf.tmet, f"metadata declares {dec['blocks']} blocks, the index holds {indexed}: an "
                       "append was interrupted before its metadata update (the blocks are read; `neo-mef3 repair`, "
                       "or opening a Writer on the session, rewrites the metadata)")
    elif dec["blocks"] < indexed:
        report.note(sf.tmet, f"metadata declares {dec['blocks']} of the {indexed} indexed blocks "
                    "(the interrupted append above)")
    if dec["blocks"] > indexed:
        report.problem(sf.tmet, f"metadata declares {dec['blocks']} blocks, the index holds only {indexed}")
    if torn:
        report.problem(sf.tidx, f"{torn} bytes of a torn index entry at the end (an interrupted append; ignored)")
    if junk_entries:
        report.problem(sf.tidx, f"{junk_entries} whole index entr{'y' if junk_entries == 1 else 'ies'} after the "
                       "last one that continues the index (ignored)")
    if 0 <= declared_dat != indexed:
        say = report.note if (uncommitted or dec["blocks"] < indexed) and declared_dat < indexed else report.problem
        say(sf.tdat, f"the data file's header declares {declared_dat} blocks, the index holds {indexed}")
    if tail:
        report.problem(sf.tdat, f"{tail} bytes after the last indexed block (data an interrupted append wrote "
                       "before its index entries; ignored; `neo-mef3 repair`, or opening a Writer on the session, "
                       "removes them)")
