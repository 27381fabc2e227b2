// Verilator testbench of one OPU core (dualopu.rtl.verilator): the same protocol as the Python
// testbench of dualopu.rtl.simulate.run_core, so cycle counts and DRAM contents must agree.
//
// argv[1]: input file  (u32 n_dma, n_exec, word_bytes, beat_bytes, dram_size, max_cycles,
//                       read_latency; the words, word_bytes each, little-endian; the DRAM bytes)
// argv[2]: output file (u32 cycles, n_dma_ends, n_exec_ends; the ends; the DRAM bytes)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <vector>

#include "verilated.h"
#include TOP_HEADER

static void set_bytes(CData& s, const uint8_t* b, int n) { s = n > 0 ? b[0] : 0; }
static void set_bytes(SData& s, const uint8_t* b, int n) {
    s = 0;
    for (int i = 0; i < n && i < 2; i++) s |= (SData)b[i] << (8 * i);
}
static void set_bytes(IData& s, const uint8_t* b, int n) {
    s = 0;
    for (int i = 0; i < n && i < 4; i++) s |= (IData)b[i] << (8 * i);
}
static void set_bytes(QData& s, const uint8_t* b, int n) {
    s = 0;
    for (int i = 0; i < n && i < 8; i++) s |= (QData)b[i] << (8 * i);
}
template <std::size_t W>
static void set_bytes(VlWide<W>& s, const uint8_t* b, int n) {
    for (std::size_t w = 0; w < W; w++) {
        uint32_t v = 0;
        for (int k = 0; k < 4; k++) {
            int i = (int)w * 4 + k;
            if (i < n) v |= (uint32_t)b[i] << (8 * k);
        }
        s[w] = v;
    }
}
static uint8_t get_byte(QData s, int i) { return (uint8_t)(s >> (8 * i)); }
static uint8_t get_byte(IData s, int i) { return (uint8_t)(s >> (8 * i)); }
template <std::size_t W>
static uint8_t get_byte(const VlWide<W>& s, int i) { return (uint8_t)(s[i / 4] >> (8 * (i % 4))); }

static uint32_t rd32(FILE* f) {
    uint32_t v;
    if (fread(&v, 4, 1, f) != 1) { fprintf(stderr, "short input\n"); exit(3); }
    return v;
}

int main(int argc, char** argv) {
    if (argc != 3) { fprintf(stderr, "usage: sim IN OUT\n"); return 2; }
    FILE* f = fopen(argv[1], "rb");
    if (!f) { perror("input"); return 2; }
    uint32_t n_dma = rd32(f), n_exec = rd32(f), wbytes = rd32(f), beat = rd32(f), size = rd32(f);
    uint32_t limit = rd32(f), latency = rd32(f);
    std::vector<uint8_t> words((size_t)(n_dma + n_exec) * wbytes);
    std::vector<uint8_t> dram(size);
    if (fread(words.data(), 1, words.size(), f) != words.size() || fread(dram.data(), 1, size, f) != size) {
        fprintf(stderr, "short input\n");
        return 3;
    }
    fclose(f);
    VerilatedContext ctx;
    TOP_CLASS top(&ctx);
    auto tick = [&]() { top.clk = 0; top.eval(); top.clk = 1; top.eval(); };
    top.rst = 1; top.start = 0; top.rd_ready = 1; top.wr_ready = 1; top.rsp_valid = 0; top.im_we = 0;
    tick();
    top.rst = 0;
    for (uint32_t k = 0; k < n_dma + n_exec; k++) {  // preload both instruction memories
        top.im_we = 1;
        top.im_sel = k < n_dma ? 0 : 1;
        top.im_addr = k < n_dma ? k : k - n_dma;
        set_bytes(top.im_data, &words[(size_t)k * wbytes], (int)wbytes);
        tick();
    }
    top.im_we = 0;
    top.start = 1;
    tick();
    top.start = 0;
    uint32_t cycle = 1, prev[2] = {0, 0};
    std::vector<uint32_t> ends[2];
    std::deque<int64_t> pending(latency + 1, -1);
    std::vector<uint8_t> beat_buf(beat);
    while (true) {
        int64_t a = pending.front();
        pending.pop_front();
        if (a >= 0) {
            for (uint32_t i = 0; i < beat; i++) beat_buf[i] = (uint64_t)a + i < size ? dram[a + i] : 0;
            top.rsp_valid = 1;
            set_bytes(top.rsp_data, beat_buf.data(), (int)beat);
        } else {
            top.rsp_valid = 0;
        }
        top.clk = 0;
        top.eval();
        pending.push_back(top.rd_valid ? (int64_t)top.rd_addr : -1);
        if (top.wr_valid) {
            uint64_t addr = top.wr_addr;
            for (uint32_t k = 0; k < beat; k++) {
                if ((top.wr_strb >> k) & 1) {
                    if (addr + k >= size) { fprintf(stderr, "write beyond DRAM at %llu\n", (unsigned long long)(addr + k)); return 4; }
                    dram[addr + k] = get_byte(top.wr_data, (int)k);
                }
            }
        }
        uint32_t d[2] = {top.dma_done, top.exec_done};
        for (int u = 0; u < 2; u++) {
            while (prev[u] < d[u]) { ends[u].push_back(cycle); prev[u]++; }
        }
        if (top.done) break;
        if (cycle >= limit) { fprintf(stderr, "hung after %u cycles\n", cycle); return 5; }
        top.clk = 1;
        top.eval();
        cycle++;
    }
    FILE* o = fopen(argv[2], "wb");
    uint32_t hdr[3] = {cycle, (uint32_t)ends[0].size(), (uint32_t)ends[1].size()};
    fwrite(hdr, 4, 3, o);
    for (int u = 0; u < 2; u++) fwrite(ends[u].data(), 4, ends[u].size(), o);
    fwrite(dram.data(), 1, size, o);
    fclose(o);
    return 0;
}
