"""The depthwise core's memory line buffer, in RTL simulation (Amaranth's simulator).

A hand-assembled micro-program (LOAD input, LOAD weights + parameters, DW, STORE) runs on a
tiny depthwise core with a DRAM testbench; the stored outputs must equal a numpy depthwise
convolution followed by `requant_int` (itself checked against float32 in test_rtl.py). Cases
cover stride 1 and 2, padding 0 and 1, rows wider than one DRAM beat and a short line
buffer (columns past ``line_width`` read as zero in the RTL, so the case keeps inside it).
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from dualopu.rtl.params import OP_DW, OP_END, OP_LOAD_IN, OP_LOAD_W, OP_STORE, CoreRtl, pack
from dualopu.rtl.requant import encode_mult, requant_int

BEAT = 8
PE, ISZ, K = 2, 9, 3
IN, W, OUT = 0x1000, 0x4000, 0x8000
CSTRIDE = 256


def _run(stride: int, padl: int, win: int, nrin: int, line_width: int, seed: int) -> tuple[dict, dict]:
    from amaranth.sim import Simulator

    from dualopu.rtl.core import OpuCore

    p = CoreRtl("dw", False, True, PE, ISZ, ISZ, BEAT, 64, 4, 64, 4, line_width, 4)
    wrs = -(-win // BEAT)
    noy = (nrin + 2 * padl - K) // stride + 1
    nox = (win + 2 * padl - K) // stride + 1
    orow = -(-nox // BEAT)
    rng = random.Random(seed)
    dram: dict[int, int] = {a: rng.randrange(256) for a in range(IN, IN + PE * CSTRIDE)}
    dram.update({a: rng.randrange(256) for a in range(W, W + 3 * BEAT)})
    params = []
    for q in range(PE):
        bias = rng.randrange(-500, 500)
        sig, e = encode_mult(1 / rng.choice((48, 96, 200)))
        params.append((bias, sig, e))
        word = (bias & 0xFFFFFFFF) | (sig << 32) | ((e & 0xFF) << 56)
        for k in range(8):
            dram[W + 3 * BEAT + q * BEAT + k] = (word >> (8 * k)) & 0xFF
    dma = [
        pack(
            op=OP_LOAD_IN,
            dram=IN,
            cstride=CSTRIDE,
            rowlen=win,
            nch=PE,
            nrows=nrin,
            nwb=wrs,
            buf=0,
            nb=PE,
            nbeats=PE * nrin * wrs,
        ),
        pack(op=OP_LOAD_W, dram=W, buf=0, nbeats=3, nparam=PE, pbase=0),
        pack(
            op=OP_STORE,
            wait=1,
            dram=OUT,
            cstride=CSTRIDE,
            rowlen=nox,
            nch=PE,
            nrows=noy,
            nwb=orow,
            buf=0,
            nb=PE,
            nbeats=PE * noy * orow,
        ),
        pack(op=OP_END),
    ]
    exe = [
        pack(
            op=OP_DW,
            wait=2,
            noy=noy,
            nox=nox,
            kh=K,
            kw=K,
            sh=stride,
            sw=stride,
            iy0=-padl,
            padl=padl,
            ra0=-padl * wrs,
            ra_step=stride * wrs,
            nrin=nrin,
            win=win,
            wrs=wrs,
            orow=orow,
            lo=-128,
            hi=127,
        ),
        pack(op=OP_END),
    ]
    dut = OpuCore(p, imem_init=(dma, exe))
    written: dict[int, int] = {}

    async def bench(ctx: object) -> None:
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        ctx.set(dut.wr_ready, 1)
        ctx.set(dut.rd_ready, 1)
        pending: list[int] = []
        for _ in range(20000):
            if ctx.get(dut.done):
                return
            if pending:
                a = pending.pop(0)
                ctx.set(dut.rsp_valid, 1)
                ctx.set(dut.rsp_data, sum(dram.get(a + k, 0) << (8 * k) for k in range(BEAT)))
            else:
                ctx.set(dut.rsp_valid, 0)
            if ctx.get(dut.rd_valid):
                pending.append(ctx.get(dut.rd_addr))
            if ctx.get(dut.wr_valid):
                addr, data, strb = ctx.get(dut.wr_addr), ctx.get(dut.wr_data), ctx.get(dut.wr_strb)
                for k in range(BEAT):
                    if strb >> k & 1:
                        written[addr + k] = (data >> (8 * k)) & 0xFF
            await ctx.tick()
        raise AssertionError("core did not finish")

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()

    def s8(v: int) -> int:
        return v - 256 if v > 127 else v

    x = np.array(
        [
            [[s8(dram[IN + q * CSTRIDE + r * win + c]) for c in range(win)] for r in range(nrin)]
            for q in range(PE)
        ]
    )
    xp = np.pad(x, ((0, 0), (padl, padl), (padl, padl)))
    w = np.array([s8(dram[W + k]) for k in range(PE * ISZ)]).reshape(PE, ISZ)[:, : K * K].reshape(PE, K, K)
    expect: dict[int, int] = {}
    for q in range(PE):
        bias, sig, e = params[q]
        for oy in range(noy):
            for ox in range(nox):
                win_ = xp[q, oy * stride : oy * stride + K, ox * stride : ox * stride + K]
                acc = int((win_ * w[q]).sum())
                expect[OUT + q * CSTRIDE + oy * nox + ox] = requant_int(acc, bias, sig, e, -128, 127) & 0xFF
    return written, expect


@pytest.mark.parametrize(
    ("stride", "padl", "win", "nrin", "line_width"),
    [(1, 1, 10, 6, 12), (2, 1, 11, 7, 16), (1, 0, 9, 5, 12), (1, 1, 17, 4, 20)],
)
def test_depthwise_rtl_matches_numpy(stride: int, padl: int, win: int, nrin: int, line_width: int) -> None:
    written, expect = _run(stride, padl, win, nrin, line_width, seed=stride * 100 + win)
    assert written == expect
    assert len(set(expect.values())) > 3  # outputs vary: the comparison is not between constants
