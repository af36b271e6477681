"""The model repository's format: the one contract between training and serving (torch-free).

- `spec`: the constants: format version, tensor names and shapes, the truth tables, the row limit,
  Triton's config.pbtxt;
- `records`: manifest.json as typed records, and the JSON Schema generated from them;
- `reader`: an untrusted folder into records, with a reason for everything refused;
- `writer`: writing a repository and publishing it atomically;
- `stats`: success rates and their intervals.

`xorlab.train` builds the records and writes them; `xorlab.serve` reads them; the tests' fixture
repositories are written through the same writer.
"""
