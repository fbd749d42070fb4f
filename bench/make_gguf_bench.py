"""Benchmark GGUF for bench/gguf-bench.mjs: one tensor of 2^24 values (64 MB as float32) per
decoded ggml type, random block bytes with finite scales (the same generator as the fixtures).
Usage: /work/.venv-fixtures/bin/python bench/make_gguf_bench.py OUT.gguf
"""
import os
import sys

import gguf
from gguf.constants import GGML_QUANT_SIZES

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'gguf'))
from make_gguf_fixtures import QUANT, random_blocks  # noqa: E402  (also fixes Q8_1's block size)

N = 1 << 24
ROW = 4096


def main(out):
    w = gguf.GGUFWriter(out, arch='llama')
    for qt in QUANT:
        block_elems, block_bytes = GGML_QUANT_SIZES[qt]
        blocks = random_blocks(qt, N // block_elems)
        w.add_tensor(f'bench.{qt.name.lower()}', blocks.reshape(N // ROW, ROW // block_elems * block_bytes), raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == '__main__':
    main(sys.argv[1])
