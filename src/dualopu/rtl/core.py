# Amaranth 0.5 builds `m.If`/`m.Elif`/`m.Else`/`m.Switch`/`m.Case`/`m.FSM`/`m.State` from a
# generator-based context-manager decorator that pyright cannot see through, and memory
# ports get their signals at construction: these two checks are off for this file only.
# pyright: reportGeneralTypeIssues=false, reportAttributeAccessIssue=false
"""One OPU-style core in Amaranth HDL: memories, PE array, post-processing, controller.

Two units run concurrently, each from its own instruction memory (the assembler splits a
program's stream, `dualopu.rtl.assemble`): the DMA unit (LOAD / STORE on the DRAM port)
and the EXEC unit (COMPUTE on the PE array, post-processing in line). An instruction
waits until the other unit has completed ``wait`` instructions (the slot scoreboard of
the cycle simulator, resolved by the assembler), then spends ``overhead_cycles`` on issue
(fetch and decode included), then works.

* Regular front end: per cycle one input pixel's ``pic`` channels (one byte from each
  input bank) and one weight word; PE ``p`` multiplies input lanes
  ``(p % G) * input_size ...`` by its ``input_size`` weights, ``G = pic / input_size`` PE
  sums are added per output channel (adder tree) into ``poc`` 32-bit accumulators.
  Loop nest per instruction: oc block, output row, output column, ky, kx, input block.
* Depthwise front end: per PE (one channel) a line buffer of ``kh`` rows, double
  buffered: the fill copy is written from the input bank while the window copy shifts by
  the stride each cycle; the PE's inputs are the ``3 x 3`` window taps.
* Post-processing lanes: bias, requantization (`dualopu.rtl.requant`, integer, bit-exact
  with float32), clip to ``[lo, hi]`` (ReLU / ReLU6 / none), byte write to an output bank.
"""

from __future__ import annotations

from collections.abc import Sequence

from amaranth import Cat, Const, Elaboratable, Module, Mux, Signal, signed, unsigned
from amaranth.hdl import Value
from amaranth.lib.memory import Memory

from dualopu.rtl.params import (
    DW_KERNEL_MAX,
    OP_DW,
    OP_END,
    OP_LOAD_IN,
    OP_LOAD_W,
    OP_STORE,
    WORD_BITS,
    CoreRtl,
    field_offsets,
)

ACC_BITS = 32
PARAM_BITS = 64
#: Cycles from the last operand read to the last output-bank write (pipeline depth).
DRAIN_CYCLES = 7
#: Fetch and decode cycles of the overhead every instruction pays.
FETCH_CYCLES = 4


def _bits(n: int) -> int:
    return max(int(n - 1).bit_length(), 1)


def _field(word: Value, name: str) -> Value:
    lsb, bits, sgn = field_offsets()[name]
    v = Value.cast(word[lsb : lsb + bits])
    return v.as_signed() if sgn else v


def _bitlen(m: Module, v: Value, width: int, name: str) -> Signal:
    """Number of significant bits of an unsigned value (priority encoder)."""
    n = Signal(range(width + 1), name=name)
    expr: Value = Const(0, n.shape())
    for i in range(width):
        expr = Mux(v[i], i + 1, expr)
    m.d.comb += n.eq(expr)
    return n


def _rne_shr(x: Value, k: Value, width: int) -> Value:
    """``x >> k`` rounded half to even (unsigned ``x`` of ``width`` bits, ``k >= 0``)."""
    one = Const(1, width + 1)
    q = x >> k
    mask = (one << k) - 1
    rem = x & mask
    half = (one << k) >> 1
    up = (k != 0) & ((rem > half) | ((rem == half) & q[0]))
    return q + up


class OpuCore(Elaboratable):
    """A core; ``imem_init`` preloads the two instruction memories (simulation)."""

    def __init__(self, p: CoreRtl, imem_init: tuple[Sequence[int], Sequence[int]] | None = None) -> None:
        self.p = p
        self.imem_init = imem_init
        b = p.beat_bytes
        self.start = Signal()
        self.done = Signal()
        self.rd_valid = Signal()
        self.rd_ready = Signal()
        self.rd_addr = Signal(32)
        self.rsp_valid = Signal()
        self.rsp_data = Signal(8 * b)
        self.wr_valid = Signal()
        self.wr_ready = Signal()
        self.wr_addr = Signal(32)
        self.wr_data = Signal(8 * b)
        self.wr_strb = Signal(b)
        self.im_we = Signal()
        self.im_sel = Signal()
        self.im_addr = Signal(range(p.imem_depth))
        self.im_data = Signal(WORD_BITS)
        self.exec_busy_cycles = Signal(32)  # cycles the EXEC unit spends running instructions
        #: instructions completed by the DMA and EXEC units (the ``wait`` scoreboard; testbenches watch it)
        self.unit_done = (Signal(20, name="dma_done"), Signal(20, name="exec_done"))

    def ports(self) -> list[Signal]:
        return [
            self.start,
            self.done,
            self.rd_valid,
            self.rd_ready,
            self.rd_addr,
            self.rsp_valid,
            self.rsp_data,
            self.wr_valid,
            self.wr_ready,
            self.wr_addr,
            self.wr_data,
            self.wr_strb,
            self.im_we,
            self.im_sel,
            self.im_addr,
            self.im_data,
            self.exec_busy_cycles,
            *self.unit_done,
        ]

    # ------------------------------------------------------------------------------------
    def elaborate(self, platform: object) -> Module:
        p = self.p
        m = Module()
        b = p.beat_bytes
        lg_b = b.bit_length() - 1
        nbi, nbo, nwb = p.in_banks, p.out_banks, p.w_banks
        pe, isz = p.pe_count, p.input_size

        # ---- memories ----------------------------------------------------------------
        def mem(name: str, width: int, depth: int, init: Sequence[int] = ()) -> Memory:
            mm = Memory(shape=unsigned(width), depth=depth, init=list(init))
            m.submodules[name] = mm
            return mm

        in_mem = [mem(f"inbuf{k}", 8 * b, p.in_depth) for k in range(nbi)]
        w_mem = [mem(f"wbuf{k}", 8 * b, p.w_depth) for k in range(nwb)]
        out_mem = [mem(f"outbuf{k}", 8 * b, p.out_depth) for k in range(nbo)]
        par_mem = [mem(f"param{k}", PARAM_BITS, p.param_depth) for k in range(nbo)]
        init = self.imem_init or ((), ())
        imems = [
            mem("imem_dma", WORD_BITS, p.imem_depth, init[0]),
            mem("imem_exec", WORD_BITS, p.imem_depth, init[1]),
        ]

        in_w = [x.write_port() for x in in_mem]
        in_r = [x.read_port() for x in in_mem]
        w_w = [x.write_port() for x in w_mem]
        w_r = [x.read_port() for x in w_mem]
        out_w = [x.write_port(granularity=8) for x in out_mem]
        out_r = [x.read_port() for x in out_mem]
        par_w = [x.write_port() for x in par_mem]
        par_r = [x.read_port() for x in par_mem]
        for k, im in enumerate(imems):
            wp = im.write_port()
            m.d.comb += [
                wp.addr.eq(self.im_addr),
                wp.data.eq(self.im_data),
                wp.en.eq(self.im_we & (self.im_sel == k)),
            ]

        # ---- the two units -------------------------------------------------------------
        done_cnt = self.unit_done
        words = [Signal(WORD_BITS, name="dma_word"), Signal(WORD_BITS, name="exec_word")]
        go = [Signal(name="dma_go"), Signal(name="exec_go")]
        fin = [Signal(name="dma_fin"), Signal(name="exec_fin")]
        halted = [Signal(name="dma_halt"), Signal(name="exec_halt")]
        running = Signal()
        with m.If(self.start):
            m.d.sync += running.eq(1)
        m.d.comb += self.done.eq(halted[0] & halted[1])
        ovh = max(p.overhead_cycles - FETCH_CYCLES, 0)
        for u in range(2):
            rp = imems[u].read_port()
            pc = Signal(range(p.imem_depth), name=f"pc{u}")
            cnt = Signal(range(max(ovh, 1) + 1), name=f"ovh{u}")
            m.d.comb += rp.addr.eq(pc)
            word = words[u]
            with m.FSM(name=f"unit{u}"):
                with m.State("IDLE"), m.If(running):
                    m.next = "FETCH"
                with m.State("FETCH"):
                    m.next = "DECODE"
                with m.State("DECODE"):
                    m.d.sync += word.eq(rp.data)
                    m.next = "WAIT"
                with m.State("WAIT"):
                    with m.If(_field(word, "op") == OP_END):
                        m.d.sync += halted[u].eq(1)
                        m.next = "HALT"
                    with m.Elif(done_cnt[1 - u] >= _field(word, "wait")):
                        m.d.sync += cnt.eq(0)
                        m.next = "OVH"
                with m.State("OVH"):
                    m.d.sync += cnt.eq(cnt + 1)
                    with m.If(cnt >= ovh):
                        m.d.comb += go[u].eq(1)
                        m.next = "RUN"
                with m.State("RUN"):
                    if u == 1:
                        m.d.sync += self.exec_busy_cycles.eq(self.exec_busy_cycles + 1)
                    with m.If(fin[u]):
                        m.d.sync += [done_cnt[u].eq(done_cnt[u] + 1), pc.eq(pc + 1)]
                        m.next = "FETCH"
                with m.State("HALT"):
                    pass

        self._dma(m, words[0], go[0], fin[0], in_w, w_w, par_w, out_r, lg_b)
        lanes_acc = [Signal(signed(ACC_BITS), name=f"e_acc{j}") for j in range(nbo)]
        e_valid = Signal()
        e_oaddr = Signal(16)
        e_obyte = Signal(range(b))
        e_par = [Signal(PARAM_BITS, name=f"e_par{j}") for j in range(nbo)]
        self._exec(
            m, words[1], go[1], fin[1], in_r, w_r, par_r, lanes_acc, e_valid, e_oaddr, e_obyte, e_par, lg_b
        )
        self._post(m, words[1], lanes_acc, e_valid, e_oaddr, e_obyte, e_par, out_w)
        del pe, isz
        return m

    # ------------------------------------------------------------------------------------
    def _dma(
        self,
        m: Module,
        word: Signal,
        go: Signal,
        fin: Signal,
        in_w: list,
        w_w: list,
        par_w: list,
        out_r: list,
        lg_b: int,
    ) -> None:
        p = self.p
        b = p.beat_bytes
        f = {n: _field(word, n) for n in field_offsets()}
        op = f["op"]
        busy = Signal()
        # request side (LOAD: read requests; STORE: output-bank reads, then DRAM writes)
        q_more = Signal()
        q_c, q_r, q_wb = Signal(12), Signal(12), Signal(8)
        q_chan, q_row, q_addr = Signal(32), Signal(32), Signal(32)
        q_k = Signal(20)
        # buffer-side counters (LOAD responses, STORE reads)
        a_bank, a_r, a_wb = Signal(8), Signal(12), Signal(8)
        a_cbase, a_rbase = Signal(16), Signal(16)
        a_k = Signal(20)
        a_wbank, a_wrow, a_pbank, a_prow = Signal(8), Signal(16), Signal(8), Signal(12)
        a_left = Signal(32)  # responses / writes still expected
        rem = Signal(17)  # STORE: bytes left in the current row
        with m.If(go):
            m.d.sync += [
                busy.eq(1),
                q_more.eq(1),
                q_c.eq(0),
                q_r.eq(0),
                q_wb.eq(0),
                q_k.eq(0),
                q_chan.eq(f["dram"]),
                q_row.eq(f["dram"]),
                q_addr.eq(f["dram"]),
                a_bank.eq(0),
                a_r.eq(0),
                a_wb.eq(0),
                a_cbase.eq(f["buf"]),
                a_rbase.eq(f["buf"]),
                a_k.eq(0),
                a_wbank.eq(0),
                a_wrow.eq(0),
                a_pbank.eq(0),
                a_prow.eq(0),
                rem.eq(f["rowlen"]),
            ]
            m.d.sync += a_left.eq(f["nbeats"] + f["nparam"])

        def step_nested(
            c: Signal, r: Signal, wb: Signal, chan: Signal, row: Signal, addr: Signal, more: Signal
        ) -> None:
            """Advance (channel, row, beat) and the DRAM address of the beat."""
            with m.If(wb + 1 < f["nwb"]):
                m.d.sync += [wb.eq(wb + 1), addr.eq(addr + b)]
            with m.Elif(r + 1 < f["nrows"]):
                m.d.sync += [wb.eq(0), r.eq(r + 1), row.eq(row + f["rowlen"]), addr.eq(row + f["rowlen"])]
            with m.Elif(c + 1 < f["nch"]):
                m.d.sync += [
                    wb.eq(0),
                    r.eq(0),
                    c.eq(c + 1),
                    chan.eq(chan + f["cstride"]),
                    row.eq(chan + f["cstride"]),
                    addr.eq(chan + f["cstride"]),
                ]
            with m.Else():
                m.d.sync += more.eq(0)

        def step_buffer() -> None:
            """Advance (bank, row, beat) of the buffer side of a LOAD/STORE."""
            with m.If(a_wb + 1 < f["nwb"]):
                m.d.sync += a_wb.eq(a_wb + 1)
            with m.Elif(a_r + 1 < f["nrows"]):
                m.d.sync += [a_wb.eq(0), a_r.eq(a_r + 1), a_rbase.eq(a_rbase + f["nwb"])]
            with m.Elif(a_bank + 1 < f["nb"]):
                m.d.sync += [a_wb.eq(0), a_r.eq(0), a_bank.eq(a_bank + 1), a_rbase.eq(a_cbase)]
            with m.Else():
                m.d.sync += [
                    a_wb.eq(0),
                    a_r.eq(0),
                    a_bank.eq(0),
                    a_cbase.eq(a_cbase + f["bcs"]),
                    a_rbase.eq(a_cbase + f["bcs"]),
                ]

        is_load = (op == OP_LOAD_IN) | (op == OP_LOAD_W)
        # ---- LOAD: read requests
        m.d.comb += [self.rd_valid.eq(busy & q_more & is_load), self.rd_addr.eq(q_addr)]
        with m.If(self.rd_valid & self.rd_ready):
            with m.If(op == OP_LOAD_W):
                m.d.sync += [q_k.eq(q_k + 1), q_addr.eq(q_addr + b)]
                with m.If(q_k + 1 >= f["nbeats"] + f["nparam"]):
                    m.d.sync += q_more.eq(0)
            with m.Else():
                step_nested(q_c, q_r, q_wb, q_chan, q_row, q_addr, q_more)
        # ---- LOAD: responses into the buffers
        rsp = busy & is_load & self.rsp_valid
        for k, wp in enumerate(in_w):
            m.d.comb += [
                wp.addr.eq(a_rbase + a_wb),
                wp.data.eq(self.rsp_data),
                wp.en.eq(rsp & (op == OP_LOAD_IN) & (a_bank == k)),
            ]
        for k, wp in enumerate(w_w):
            m.d.comb += [
                wp.addr.eq(f["buf"] + a_wrow),
                wp.data.eq(self.rsp_data),
                wp.en.eq(rsp & (op == OP_LOAD_W) & (a_k < f["nbeats"]) & (a_wbank == k)),
            ]
        for k, wp in enumerate(par_w):
            m.d.comb += [
                wp.addr.eq(f["pbase"] + a_prow),
                wp.data.eq(self.rsp_data[:PARAM_BITS]),
                wp.en.eq(rsp & (op == OP_LOAD_W) & (a_k >= f["nbeats"]) & (a_pbank == k)),
            ]
        with m.If(rsp):
            m.d.sync += [a_left.eq(a_left - 1), a_k.eq(a_k + 1)]
            with m.If(op == OP_LOAD_IN):
                step_buffer()
            with m.Elif(a_k < f["nbeats"]):
                with m.If(a_wbank + 1 < p.w_banks):
                    m.d.sync += a_wbank.eq(a_wbank + 1)
                with m.Else():
                    m.d.sync += [a_wbank.eq(0), a_wrow.eq(a_wrow + 1)]
            with m.Else():
                with m.If(a_pbank + 1 < p.out_banks):
                    m.d.sync += a_pbank.eq(a_pbank + 1)
                with m.Else():
                    m.d.sync += [a_pbank.eq(0), a_prow.eq(a_prow + 1)]
        # ---- STORE: output-bank read (1 cycle), then the DRAM write, with back-pressure
        st = busy & (op == OP_STORE)
        pend = Signal()
        s_bank = Signal(8)
        s_strb = Signal(b)
        adv = ~pend | self.wr_ready
        for rp in out_r:
            m.d.comb += [rp.addr.eq(a_rbase + a_wb), rp.en.eq(adv)]
        sel = Signal(8 * b)
        m.d.comb += sel.eq(0)
        for k, rp in enumerate(out_r):
            with m.If(s_bank == k):
                m.d.comb += sel.eq(rp.data)
        m.d.comb += [self.wr_valid.eq(st & pend), self.wr_data.eq(sel), self.wr_strb.eq(s_strb)]
        with m.If(st & adv):
            with m.If(q_more):
                m.d.sync += [
                    pend.eq(1),
                    s_bank.eq(a_bank),
                    self.wr_addr.eq(q_addr),
                    s_strb.eq(Cat(*[rem > j for j in range(b)])),
                ]
                with m.If(a_wb + 1 < f["nwb"]):
                    m.d.sync += rem.eq(rem - b)
                with m.Else():
                    m.d.sync += rem.eq(f["rowlen"])
                step_nested(q_c, q_r, q_wb, q_chan, q_row, q_addr, q_more)
                step_buffer()
            with m.Else():
                m.d.sync += pend.eq(0)
        with m.If(st & self.wr_valid & self.wr_ready):
            m.d.sync += a_left.eq(a_left - 1)
        m.d.comb += fin.eq(busy & (a_left == 0) & ~go)
        with m.If(fin):
            m.d.sync += busy.eq(0)
        del lg_b

    # ------------------------------------------------------------------------------------
    def _exec(
        self,
        m: Module,
        word: Signal,
        go: Signal,
        fin: Signal,
        in_r: list,
        w_r: list,
        par_r: list,
        lanes_acc: list,
        e_valid: Signal,
        e_oaddr: Signal,
        e_obyte: Signal,
        e_par: list,
        lg_b: int,
    ) -> None:
        p = self.p
        b = p.beat_bytes
        pe, isz = p.pe_count, p.input_size
        f = {n: _field(word, n) for n in field_offsets()}
        op = f["op"]
        busy = Signal()
        drain = Signal(range(DRAIN_CYCLES + 1))
        issuing = Signal()
        # PE array operands (int8) and dot products
        a_ops = [[Signal(signed(8), name=f"a{q}_{i}") for i in range(isz)] for q in range(pe)]
        w_ops = [[Signal(signed(8), name=f"w{q}_{i}") for i in range(isz)] for q in range(pe)]
        dots = []
        for q in range(pe):
            d = Signal(signed(16 + _bits(isz) + 1), name=f"dot{q}")
            m.d.comb += d.eq(sum(a_ops[q][i] * w_ops[q][i] for i in range(isz)))
            dots.append(d)
        wword = Cat(*[r.data for r in w_r])
        wbytes = [wword[8 * k : 8 * k + 8].as_signed() for k in range(pe * isz)]
        is_dw = Signal()
        if p.regular and p.depthwise:
            with m.If(go):
                m.d.sync += is_dw.eq(op == OP_DW)
        elif p.depthwise:
            m.d.comb += is_dw.eq(1)

        with m.If(go):
            m.d.sync += [busy.eq(1), issuing.eq(1), drain.eq(0)]
        with m.If(busy & ~issuing):
            m.d.sync += drain.eq(drain + 1)
        m.d.comb += fin.eq(busy & ~issuing & (drain == DRAIN_CYCLES))
        with m.If(fin):
            m.d.sync += busy.eq(0)

        reg_sel = ~is_dw
        if p.regular:
            self._conv_front(
                m,
                f,
                go,
                busy,
                issuing,
                reg_sel,
                in_r,
                w_r,
                par_r,
                a_ops,
                w_ops,
                wbytes,
                dots,
                lanes_acc,
                e_valid,
                e_oaddr,
                e_obyte,
                e_par,
                lg_b,
            )
        if p.depthwise:
            self._dw_front(
                m,
                f,
                go,
                busy,
                issuing,
                is_dw,
                in_r,
                w_r,
                par_r,
                a_ops,
                w_ops,
                wbytes,
                dots,
                lanes_acc,
                e_valid,
                e_oaddr,
                e_obyte,
                e_par,
                lg_b,
            )
        del b

    def _conv_front(
        self,
        m: Module,
        f: dict,
        go: Signal,
        busy: Signal,
        issuing: Signal,
        sel: Value,
        in_r: list,
        w_r: list,
        par_r: list,
        a_ops: list,
        w_ops: list,
        wbytes: list,
        dots: list,
        lanes_acc: list,
        e_valid: Signal,
        e_oaddr: Signal,
        e_obyte: Signal,
        e_par: list,
        lg_b: int,
    ) -> None:
        p = self.p
        b = p.beat_bytes
        g, poc, isz = p.group, p.poc, p.input_size
        ob, oy, ox, ky, kx, cb = (Signal(8), Signal(12), Signal(12), Signal(4), Signal(4), Signal(8))
        relb, rel = Signal(signed(16)), Signal(signed(16))
        ixb, ix = Signal(signed(16)), Signal(signed(16))
        ra_oy, ra = Signal(signed(22)), Signal(signed(22))
        cba = Signal(16)
        wa_ob, wa = Signal(16), Signal(16)
        oa_ob, oa_oy = Signal(16), Signal(16)
        pa = Signal(12)
        act = busy & issuing & sel
        with m.If(go):
            m.d.sync += [
                ob.eq(0),
                oy.eq(0),
                ox.eq(0),
                ky.eq(0),
                kx.eq(0),
                cb.eq(0),
                relb.eq(f["iy0"]),
                rel.eq(f["iy0"]),
                ixb.eq(-f["padl"]),
                ix.eq(-f["padl"]),
                ra_oy.eq(f["ra0"]),
                ra.eq(f["ra0"]),
                cba.eq(0),
                wa_ob.eq(f["wbase"]),
                wa.eq(f["wbase"]),
                oa_ob.eq(f["obase"]),
                oa_oy.eq(f["obase"]),
                pa.eq(f["pbase"]),
            ]
        first = (ky == 0) & (kx == 0) & (cb == 0)
        last = (ky + 1 == f["kh"]) & (kx + 1 == f["kw"]) & (cb + 1 == f["ncb"])
        valid_in = (rel >= 0) & (rel < f["nrin"]) & (ix >= 0) & (ix < f["win"])
        in_addr = f["ibase"] + cba + ra + (ix >> lg_b)
        with m.If(sel):
            for r in in_r:
                m.d.comb += r.addr.eq(in_addr[:16])
            for r in w_r:
                m.d.comb += r.addr.eq(wa)
            for r in par_r:
                m.d.comb += r.addr.eq(pa)
        with m.If(act):
            # innermost: input block, then kx, ky, ox, oy, ob
            with m.If(cb + 1 < f["ncb"]):
                m.d.sync += [cb.eq(cb + 1), cba.eq(cba + f["ibcs"]), wa.eq(wa + 1)]
            with m.Elif(kx + 1 < f["kw"]):
                m.d.sync += [cb.eq(0), cba.eq(0), kx.eq(kx + 1), ix.eq(ix + 1), wa.eq(wa + 1)]
            with m.Elif(ky + 1 < f["kh"]):
                m.d.sync += [
                    cb.eq(0),
                    cba.eq(0),
                    kx.eq(0),
                    ix.eq(ixb),
                    ky.eq(ky + 1),
                    rel.eq(rel + 1),
                    ra.eq(ra + f["wrs"]),
                    wa.eq(wa + 1),
                ]
            with m.Else():
                m.d.sync += [cb.eq(0), cba.eq(0), kx.eq(0), ky.eq(0), wa.eq(wa_ob)]
                with m.If(ox + 1 < f["nox"]):
                    m.d.sync += [
                        ox.eq(ox + 1),
                        ixb.eq(ixb + f["sw"]),
                        ix.eq(ixb + f["sw"]),
                        rel.eq(relb),
                        ra.eq(ra_oy),
                    ]
                with m.Else():
                    m.d.sync += [ox.eq(0), ixb.eq(-f["padl"]), ix.eq(-f["padl"])]
                    with m.If(oy + 1 < f["noy"]):
                        m.d.sync += [
                            oy.eq(oy + 1),
                            relb.eq(relb + f["sh"]),
                            rel.eq(relb + f["sh"]),
                            ra_oy.eq(ra_oy + f["ra_step"]),
                            ra.eq(ra_oy + f["ra_step"]),
                            oa_oy.eq(oa_oy + f["orow"]),
                        ]
                    with m.Else():
                        m.d.sync += [
                            oy.eq(0),
                            relb.eq(f["iy0"]),
                            rel.eq(f["iy0"]),
                            ra_oy.eq(f["ra0"]),
                            ra.eq(f["ra0"]),
                        ]
                        with m.If(ob + 1 < f["nob"]):
                            m.d.sync += [
                                ob.eq(ob + 1),
                                wa_ob.eq(wa_ob + f["wob"]),
                                wa.eq(wa_ob + f["wob"]),
                                oa_ob.eq(oa_ob + f["obcs"]),
                                oa_oy.eq(oa_ob + f["obcs"]),
                                pa.eq(pa + 1),
                            ]
                        with m.Else():
                            m.d.sync += issuing.eq(0)
        # stage 1: operands from the memories (read one cycle earlier)
        s1_valid, s1_first, s1_last, s1_mask = Signal(), Signal(), Signal(), Signal()
        s1_bsel = Signal(range(b))
        s1_oaddr, s1_obyte = Signal(16), Signal(range(b))
        m.d.sync += [
            s1_valid.eq(act),
            s1_first.eq(first),
            s1_last.eq(last),
            s1_mask.eq(valid_in),
            s1_bsel.eq(ix[:lg_b] if lg_b else 0),
            s1_oaddr.eq(oa_oy + (ox >> lg_b)),
            s1_obyte.eq(ox[:lg_b] if lg_b else 0),
        ]
        lanes = [Mux(s1_mask, r.data.word_select(s1_bsel, 8), 0).as_signed() for r in in_r[: p.pic]]
        with m.If(sel):
            for q in range(p.pe_count):
                grp = q % g
                for i in range(isz):
                    m.d.comb += [a_ops[q][i].eq(lanes[grp * isz + i]), w_ops[q][i].eq(wbytes[q * isz + i])]
        acc = [Signal(signed(ACC_BITS), name=f"acc{j}") for j in range(poc)]
        with m.If(s1_valid & sel):
            for j in range(poc):
                tot = sum(dots[j * g + k] for k in range(g))
                new = Mux(s1_first, 0, acc[j]) + tot
                m.d.sync += acc[j].eq(new)
                with m.If(s1_last):
                    m.d.sync += [lanes_acc[j].eq(new), e_par[j].eq(par_r[j].data)]
            m.d.sync += [e_valid.eq(s1_last), e_oaddr.eq(s1_oaddr), e_obyte.eq(s1_obyte)]
        with m.Elif(sel):
            m.d.sync += e_valid.eq(0)

    def _dw_front(
        self,
        m: Module,
        f: dict,
        go: Signal,
        busy: Signal,
        issuing: Signal,
        sel: Value,
        in_r: list,
        w_r: list,
        par_r: list,
        a_ops: list,
        w_ops: list,
        wbytes: list,
        dots: list,
        lanes_acc: list,
        e_valid: Signal,
        e_oaddr: Signal,
        e_obyte: Signal,
        e_par: list,
        lg_b: int,
    ) -> None:
        p = self.p
        b = p.beat_bytes
        pe, isz, lw, kd = p.pe_count, p.input_size, p.line_width, DW_KERNEL_MAX
        act = busy & issuing & sel
        # fill side: rows ky of output row fy, beats wb
        f_on, f_ky, f_wb = Signal(), Signal(4), Signal(8)
        f_rel, f_ra = Signal(signed(16)), Signal(signed(22))
        f_rel0, f_ra0 = Signal(signed(16)), Signal(signed(22))
        f_row = Signal(12)  # output row being filled
        f_ready = Signal()  # F holds output row f_row
        w1_on, w1_ky, w1_wb, w1_valid = Signal(), Signal(4), Signal(8), Signal()
        # compute side
        c_on, c_ox, c_oy = Signal(), Signal(12), Signal(12)
        c_ixb = Signal(signed(16))
        c_oa = Signal(16)
        # Line buffer as memory rows (LUT-RAM / BRAM-inferable): per PE one memory of
        # beat-wide words, address (copy, row, word); the fill writes one beat per cycle into
        # copy ``fsel``, the window reads the other copy (the two swap at the row hand-over).
        # Word ``w`` of a row holds input columns ``w*B ... w*B+B-1`` (no padding shift).
        lb_words = max(2, 1 << _bits(-(-lw // b)))  # words per row (power of two, wraps cleanly)
        lb_used = -(-lw // b)  # words a fill may write (columns < line_width)
        wbits = _bits(lb_words)
        lb_mem = []
        for q in range(pe):
            lm = Memory(shape=unsigned(8 * b), depth=2 * kd * lb_words, init=[])
            m.submodules[f"linebuf{q}"] = lm
            lb_mem.append(lm)
        fsel = Signal()  # copy the fill writes; the window reads ~fsel
        fvalid = [Signal(name=f"fv{r}") for r in range(kd)]
        cvalid = [Signal(name=f"cv{r}") for r in range(kd)]
        with m.If(go):
            m.d.sync += [
                f_on.eq(1),
                f_ky.eq(0),
                f_wb.eq(0),
                f_rel.eq(f["iy0"]),
                f_ra.eq(f["ra0"]),
                f_rel0.eq(f["iy0"]),
                f_ra0.eq(f["ra0"]),
                f_row.eq(0),
                f_ready.eq(0),
                c_on.eq(0),
                c_oy.eq(0),
                c_ox.eq(0),
                c_oa.eq(f["obase"]),
            ]
        fill_addr = f["ibase"] + f_ra + f_wb
        with m.If(sel):
            for r in in_r[:pe]:
                m.d.comb += r.addr.eq(fill_addr[:16])
            for r in w_r:
                m.d.comb += r.addr.eq(f["wbase"])
            for r in par_r:
                m.d.comb += r.addr.eq(f["pbase"])
        fill_act = act & f_on
        m.d.sync += [
            w1_on.eq(fill_act),
            w1_ky.eq(f_ky),
            w1_wb.eq(f_wb),
            w1_valid.eq((f_rel >= 0) & (f_rel < f["nrin"])),
        ]
        with m.If(fill_act):
            with m.If(f_wb + 1 < f["wrs"]):
                m.d.sync += f_wb.eq(f_wb + 1)
            with m.Elif(f_ky + 1 < f["kh"]):
                m.d.sync += [f_wb.eq(0), f_ky.eq(f_ky + 1), f_rel.eq(f_rel + 1), f_ra.eq(f_ra + f["wrs"])]
            with m.Else():
                m.d.sync += f_on.eq(0)
        # the last fill write lands one cycle after the last read
        with m.If(w1_on & ~fill_act):
            m.d.sync += f_ready.eq(1)
        # fill writes: beat w1_wb of row w1_ky, straight from the input bank
        for r in range(kd):
            with m.If(w1_on & (w1_ky == r)):
                m.d.sync += fvalid[r].eq(w1_valid)
        w_row = Mux(w1_ky < kd, w1_ky, 0)
        for q in range(pe):
            wp = lb_mem[q].write_port()
            m.d.comb += [
                wp.addr.eq((fsel * kd + w_row) * lb_words + w1_wb[:wbits]),
                wp.data.eq(in_r[q].data),
                wp.en.eq(w1_on & (w1_ky < kd) & (w1_wb < lb_used)),
            ]
        # row hand-over: the filled copy becomes the window copy, start filling the next row
        handover = act & f_ready & ~c_on
        with m.If(handover):
            m.d.sync += [c_on.eq(1), c_ox.eq(0), c_ixb.eq(-f["padl"]), f_ready.eq(0), fsel.eq(~fsel)]
            for r in range(kd):
                m.d.sync += cvalid[r].eq(fvalid[r] & (r < f["kh"]))
            with m.If(f_row + 1 < f["noy"]):
                m.d.sync += [
                    f_on.eq(1),
                    f_ky.eq(0),
                    f_wb.eq(0),
                    f_row.eq(f_row + 1),
                    f_rel0.eq(f_rel0 + f["sh"]),
                    f_rel.eq(f_rel0 + f["sh"]),
                    f_ra0.eq(f_ra0 + f["ra_step"]),
                    f_ra.eq(f_ra0 + f["ra_step"]),
                ]
        comp = act & c_on
        with m.If(comp):
            with m.If(c_ox + 1 < f["nox"]):
                m.d.sync += [c_ox.eq(c_ox + 1), c_ixb.eq(c_ixb + f["sw"])]
            with m.Else():
                m.d.sync += [c_on.eq(0), c_oy.eq(c_oy + 1), c_oa.eq(c_oa + f["orow"])]
                with m.If(c_oy + 1 >= f["noy"]):
                    m.d.sync += issuing.eq(0)
        # window taps -> PE operands: the words holding columns c_ixb .. c_ixb+2 (two
        # asynchronous reads per row), the taps selected by the column's byte offset
        a0 = Value.cast((c_ixb >> lg_b)[:wbits] if lg_b else c_ixb[:wbits])
        off = Value.cast(c_ixb[:lg_b] if lg_b else Const(0, 1))
        with m.If(sel):
            for q in range(pe):
                for r in range(kd):
                    pair = []
                    for k in range(2):
                        rp = lb_mem[q].read_port(domain="comb")
                        m.d.comb += rp.addr.eq((~fsel * kd + r) * lb_words + (a0 + k)[:wbits])
                        pair.append(rp.data)
                    both = Cat(*pair)
                    for c in range(kd):
                        col = c_ixb + c
                        ok = (
                            cvalid[r] & (c < f["kw"]) & (col >= 0) & (col < f["win"]) & (col + f["padl"] < lw)
                        )
                        m.d.comb += [
                            a_ops[q][r * kd + c].eq(Mux(ok, both.word_select(off + c, 8), 0).as_signed())
                        ]
                for i in range(isz):
                    m.d.comb += w_ops[q][i].eq(wbytes[q * isz + i])
            m.d.sync += [
                e_valid.eq(comp),
                e_oaddr.eq(c_oa + (c_ox >> lg_b)),
                e_obyte.eq(c_ox[:lg_b] if lg_b else 0),
            ]
            for q in range(pe):
                m.d.sync += [lanes_acc[q].eq(dots[q]), e_par[q].eq(par_r[q].data)]

    # ------------------------------------------------------------------------------------
    def _post(
        self,
        m: Module,
        word: Signal,
        lanes_acc: list,
        e_valid: Signal,
        e_oaddr: Signal,
        e_obyte: Signal,
        e_par: list,
        out_w: list,
    ) -> None:
        p = self.p
        b = p.beat_bytes
        lo, hi = _field(word, "lo"), _field(word, "hi")
        p1_valid = Signal()
        p1_addr, p1_byte = Signal(16), Signal(range(b))
        p2_valid = Signal()
        p2_addr, p2_byte = Signal(16), Signal(range(b))
        m.d.sync += [
            p1_valid.eq(e_valid),
            p1_addr.eq(e_oaddr),
            p1_byte.eq(e_obyte),
            p2_valid.eq(p1_valid),
            p2_addr.eq(p1_addr),
            p2_byte.eq(p1_byte),
        ]
        for j in range(p.out_banks):
            par = e_par[j]
            bias = par[0:32].as_signed()
            sig = par[32:56]
            exp = par[56:64].as_signed()
            s = Signal(signed(32), name=f"pp_s{j}")
            m.d.comb += s.eq((lanes_acc[j] + bias)[:32].as_signed())
            v = Signal(32, name=f"pp_v{j}")
            m.d.comb += v.eq(Mux(s < 0, -s, s)[:32])
            n1 = _bitlen(m, v, 32, f"pp_n1_{j}")
            k1 = Signal(4, name=f"pp_k1_{j}")
            m.d.comb += k1.eq(Mux(n1 > 24, n1 - 24, 0))
            r1 = Signal(26, name=f"pp_r1_{j}")
            m.d.comb += r1.eq(_rne_shr(v, k1, 32))
            fa = Signal(24, name=f"pp_fa{j}")
            ea = Signal(5, name=f"pp_ea{j}")
            m.d.comb += [fa.eq(Mux(r1[24], r1 >> 1, r1)), ea.eq(k1 + r1[24])]
            # stage 1 register: the product of the two significands
            prod = Signal(48, name=f"pp_prod{j}")
            e1 = Signal(signed(10), name=f"pp_e1_{j}")
            neg1 = Signal(name=f"pp_neg{j}")
            m.d.sync += [prod.eq(fa * sig), e1.eq(ea + exp), neg1.eq(s < 0)]
            n2 = _bitlen(m, prod, 48, f"pp_n2_{j}")
            k2 = Signal(5, name=f"pp_k2_{j}")
            m.d.comb += k2.eq(Mux(n2 > 24, n2 - 24, 0))
            r2 = Signal(26, name=f"pp_r2_{j}")
            m.d.comb += r2.eq(_rne_shr(prod, k2, 48))
            pm = Signal(24, name=f"pp_pm{j}")
            e = Signal(signed(11), name=f"pp_e{j}")
            m.d.comb += [pm.eq(Mux(r2[24], r2 >> 1, r2)), e.eq(e1 + k2 + r2[24])]
            mag = Signal(17, name=f"pp_mag{j}")
            with m.If(pm == 0):
                m.d.comb += mag.eq(0)
            with m.Elif(e >= 8):
                m.d.comb += mag.eq(1 << 16)
            with m.Elif(e >= 0):
                m.d.comb += mag.eq(
                    Mux((pm << e.as_unsigned()[:3]) > (1 << 16), 1 << 16, pm << e.as_unsigned()[:3])
                )
            with m.Elif(e < -50):
                m.d.comb += mag.eq(0)
            with m.Else():
                sh = Signal(6, name=f"pp_sh{j}")
                m.d.comb += sh.eq((-e)[:6])
                m.d.comb += mag.eq(Mux(_rne_shr(pm, sh, 24) > (1 << 16), 1 << 16, _rne_shr(pm, sh, 24)))
            val = Signal(signed(18), name=f"pp_val{j}")
            m.d.comb += val.eq(Mux(neg1, -mag.as_signed(), mag.as_signed()))
            q8 = Signal(signed(8), name=f"pp_q{j}")
            m.d.sync += q8.eq(Mux(val < lo, lo, Mux(val > hi, hi, val)))
            wp = out_w[j]
            m.d.comb += [
                wp.addr.eq(p2_addr),
                wp.data.eq(Cat(*([q8] * b))),
                wp.en.eq(Mux(p2_valid, Const(1, b) << p2_byte, 0)),
            ]
