// layer_datapath.v -- reference datapath of one layer of the modelled
// learning core, bit-exact to docs/arithmetic.md (the contract locus
// implements; golden vectors: `locus trace golden`, docs/formats.md).
//
// One operation per clock, selected by `op`; operands `a`, `b`, `c` are
// sign-extended raw integers. Results are registered:
//
//   op          operands            effect (s = shift of the requantisation)
//   OP_CLR      -                   acc <= 0
//   OP_MAC      a, b                acc <= fit_acc(acc + a*b)            (one MAC)
//   OP_BIAS     a = b[i] (weight)   acc <= fit_acc(acc + (a << A_FRAC))  (bias, added last)
//   OP_ACT      -                   y <= pre = requant_a(acc, W_FRAC); y2 <= f(pre)
//   OP_CLS      -                   y <= requant_e(acc, C_FRAC + A_FRAC - E_FRAC)   (M h)
//   OP_LABEL    a = yhat[label]     y <= fit_e(a - 2^E_FRAC)             (no rounding, no draw)
//   OP_BACK     b = h[j]            y <= f'(b) ? requant_e(acc, C_FRAC) : 0        (M^T d)
//   OP_OUTERR   a = h[j]            y <= requant_e(a, A_FRAC - E_FRAC)   (output layer)
//   OP_UPD      a = w, b = e, c = x y <= delta = requant_u(b*c, E_FRAC + A_FRAC + LR_SHIFT - U_FRAC);
//                                   y2 <= w' = requant_w((a << K) - delta, K), K = U_FRAC - W_FRAC
//                                   (K = 0: only the weight's overflow policy)
//   OP_UPDB     a = b[i], b = e     as OP_UPD with c = 2^A_FRAC (the bias's input, 1.0)
//
// `ovf[0]` is set when the op's accumulator addition or requantisation left
// its destination range (saturated or wrapped); `ovf[1]` when the weight
// write-back of OP_UPD/OP_UPDB did.
//
// Requantisation (docs/arithmetic.md): s <= 0: exact left shift; s > 0:
// truncate = floor; nearest = ties to even; stochastic = floor((x + r) / 2^s)
// with r = low s bits of the NEW LFSR state (u << (s - 32) for s > 32). Then
// saturate (OVF = 0) or wrap (OVF = 1) into the destination width.
//
// Rounding LFSR: 32-bit Galois, right-shifting, mask 0x80200003
// (x^32 + x^22 + x^2 + x + 1). It steps once per requantised value of a class
// that rounds stochastically (OP_ACT, OP_CLS, OP_BACK, OP_OUTERR by the
// activation/error rounding; OP_UPD/OP_UPDB once for the update and, when
// K > 0 and the weight rounds stochastically, once more for the write-back,
// in that order). `rst` loads LFSR_SEED, `lfsr_load` loads `lfsr_value`.
//
// Codes: *_ROUND 0 truncate, 1 nearest, 2 stochastic; *_OVF 0 saturate,
// 1 wrap; ACT_FN 0 ReLU, 1 hard-tanh.

`timescale 1ns / 1ps
`default_nettype none

module layer_datapath #(
    parameter integer W_BITS   = 16,
    parameter integer W_FRAC   = 14,
    parameter integer W_ROUND  = 1,
    parameter integer W_OVF    = 0,
    parameter integer A_BITS   = 16,
    parameter integer A_FRAC   = 8,
    parameter integer A_ROUND  = 1,
    parameter integer A_OVF    = 0,
    parameter integer E_BITS   = 16,
    parameter integer E_FRAC   = 12,
    parameter integer E_ROUND  = 1,
    parameter integer E_OVF    = 0,
    parameter integer U_BITS   = 16,
    parameter integer U_FRAC   = 14,
    parameter integer U_ROUND  = 1,
    parameter integer U_OVF    = 0,
    parameter integer C_BITS   = 8,
    parameter integer C_FRAC   = 6,
    parameter integer ACC_BITS = 32,
    parameter integer ACC_OVF  = 0,
    parameter integer LR_SHIFT = 7,
    parameter integer ACT_FN   = 0,
    parameter [31:0]  LFSR_SEED = 32'h0000ACE1
) (
    input  wire               clk,
    input  wire               rst,
    input  wire               lfsr_load,
    input  wire [31:0]        lfsr_value,
    input  wire [3:0]         op,
    input  wire signed [63:0] a,
    input  wire signed [63:0] b,
    input  wire signed [63:0] c,
    output reg  signed [63:0] acc,
    output reg  signed [63:0] y,
    output reg  signed [63:0] y2,
    output reg  [1:0]         ovf,
    output reg  [31:0]        lfsr
);

    localparam [3:0] OP_NOP    = 4'd0;
    localparam [3:0] OP_CLR    = 4'd1;
    localparam [3:0] OP_MAC    = 4'd2;
    localparam [3:0] OP_BIAS   = 4'd3;
    localparam [3:0] OP_ACT    = 4'd4;
    localparam [3:0] OP_CLS    = 4'd5;
    localparam [3:0] OP_LABEL  = 4'd6;
    localparam [3:0] OP_BACK   = 4'd7;
    localparam [3:0] OP_OUTERR = 4'd8;
    localparam [3:0] OP_UPD    = 4'd9;
    localparam [3:0] OP_UPDB   = 4'd10;

    localparam integer STOCHASTIC = 2;
    localparam [31:0] LFSR_MASK = 32'h80200003;

    // Requantisation shifts (source fractional bits minus destination's).
    localparam integer S_FWD    = W_FRAC;                    // (W+A) - A
    localparam integer S_CLS    = C_FRAC + A_FRAC - E_FRAC;  // (C+A) - E
    localparam integer S_BACK   = C_FRAC;                    // (C+E) - E
    localparam integer S_OUTERR = A_FRAC - E_FRAC;           // A - E
    localparam integer S_UPD    = E_FRAC + A_FRAC + LR_SHIFT - U_FRAC;
    localparam integer K_WB     = U_FRAC - W_FRAC;           // write-back shift
    // Hard-tanh's 1.0, within the activation range.
    localparam signed [63:0] ONE_A_RAW = (A_FRAC >= A_BITS - 1) ? ((64'sd1 <<< (A_BITS - 1)) - 64'sd1)
                                                               : (64'sd1 <<< A_FRAC);
    // LFSR steps of one update element: the update's, then the write-back's.
    localparam [1:0] UPD_DRAWS = ((U_ROUND == STOCHASTIC) ? 2'd1 : 2'd0)
                               + ((K_WB > 0 && W_ROUND == STOCHASTIC) ? 2'd1 : 2'd0);

    // One LFSR step: lsb = s & 1; s >>= 1; if lsb: s ^= mask.
    function automatic [31:0] lfsr_next(input [31:0] s);
        lfsr_next = {1'b0, s[31:1]} ^ (s[0] ? LFSR_MASK : 32'h0);
    endfunction

    // Shift right by s with rounding `mode` (u: the LFSR state drawn for
    // this value); s <= 0 is an exact left shift.
    function automatic signed [127:0] round_shift(input signed [127:0] x, input integer s,
                                                  input integer mode, input [31:0] u);
        reg signed [127:0] q, rem, half, mask, addend;
        begin
            if (s <= 0) begin
                round_shift = x <<< (-s);
            end else begin
                q    = x >>> s;
                mask = (128'sd1 <<< s) - 128'sd1;
                rem  = x & mask;
                if (mode == 0) begin
                    round_shift = q;
                end else if (mode == 1) begin
                    half = 128'sd1 <<< (s - 1);
                    if (rem > half || (rem == half && q[0]))
                        round_shift = q + 128'sd1;
                    else
                        round_shift = q;
                end else begin
                    if (s <= 32)
                        addend = $signed({96'd0, u}) & mask;
                    else
                        addend = $signed({96'd0, u}) <<< (s - 32);
                    round_shift = q + ((rem + addend) >>> s);
                end
            end
        end
    endfunction

    // Saturate (ovf_mode 0) or wrap (1) into a signed `bits`-bit range.
    function automatic signed [127:0] fit(input signed [127:0] v, input integer bits,
                                          input integer ovf_mode);
        reg signed [127:0] mx, mn;
        begin
            mx = (128'sd1 <<< (bits - 1)) - 128'sd1;
            mn = -(128'sd1 <<< (bits - 1));
            if (ovf_mode == 0)
                fit = (v > mx) ? mx : ((v < mn) ? mn : v);
            else
                fit = (v <<< (128 - bits)) >>> (128 - bits);
        end
    endfunction

    function automatic out_of_range(input signed [127:0] v, input integer bits);
        out_of_range = (v > ((128'sd1 <<< (bits - 1)) - 128'sd1)) || (v < -(128'sd1 <<< (bits - 1)));
    endfunction

    function automatic signed [127:0] act_fn(input signed [127:0] v);
        if (ACT_FN == 0)
            act_fn = (v > 0) ? v : 128'sd0;
        else
            act_fn = (v > ONE_A_RAW) ? ONE_A_RAW : ((v < -ONE_A_RAW) ? -ONE_A_RAW : v);
    endfunction

    function automatic active(input signed [127:0] h);
        if (ACT_FN == 0)
            active = h > 0;
        else
            active = (h > -ONE_A_RAW) && (h < ONE_A_RAW);
    endfunction

    // Draws: u1 is the next state, u2 the one after.
    wire [31:0] u1 = lfsr_next(lfsr);
    wire [31:0] u2 = lfsr_next(u1);

    wire signed [127:0] acc_w = acc;
    wire signed [127:0] a_w   = a;
    wire signed [127:0] b_w   = b;
    wire signed [127:0] c_w   = c;

    // Accumulator additions.
    wire signed [127:0] mac_sum  = acc_w + a_w * b_w;
    wire signed [127:0] bias_sum = acc_w + (a_w <<< A_FRAC);

    // Requantisations of the accumulator or of an operand (before the fit).
    wire signed [127:0] pre_r    = round_shift(acc_w, S_FWD, A_ROUND, u1);
    wire signed [127:0] cls_r    = round_shift(acc_w, S_CLS, E_ROUND, u1);
    wire signed [127:0] back_r   = round_shift(acc_w, S_BACK, E_ROUND, u1);
    wire signed [127:0] outerr_r = round_shift(a_w, S_OUTERR, E_ROUND, u1);
    wire signed [127:0] label_r  = a_w - (128'sd1 <<< E_FRAC);

    wire signed [127:0] pre_v    = fit(pre_r, A_BITS, A_OVF);
    wire signed [127:0] cls_v    = fit(cls_r, E_BITS, E_OVF);
    wire signed [127:0] back_v   = fit(back_r, E_BITS, E_OVF);
    wire signed [127:0] outerr_v = fit(outerr_r, E_BITS, E_OVF);
    wire signed [127:0] label_v  = fit(label_r, E_BITS, E_OVF);

    // Outer-product update of one weight (input c) or bias (input 1.0).
    wire signed [127:0] x_in     = (op == OP_UPDB) ? (128'sd1 <<< A_FRAC) : c_w;
    wire signed [127:0] delta_r  = round_shift(b_w * x_in, S_UPD, U_ROUND, u1);
    wire signed [127:0] delta_v  = fit(delta_r, U_BITS, U_OVF);
    wire [31:0]         u_wb     = (U_ROUND == STOCHASTIC) ? u2 : u1;
    wire signed [127:0] wb_in    = (a_w <<< K_WB) - delta_v;
    wire signed [127:0] wb_r     = (K_WB == 0) ? wb_in : round_shift(wb_in, K_WB, W_ROUND, u_wb);
    wire signed [127:0] wb_v     = fit(wb_r, W_BITS, W_OVF);

    always @(posedge clk) begin
        if (rst) begin
            lfsr <= LFSR_SEED;
            acc  <= 64'sd0;
            y    <= 64'sd0;
            y2   <= 64'sd0;
            ovf  <= 2'b00;
        end else if (lfsr_load) begin
            lfsr <= lfsr_value;
        end else begin
            case (op)
                OP_CLR: begin
                    acc <= 64'sd0;
                    ovf <= 2'b00;
                end
                OP_MAC: begin
                    acc <= fit(mac_sum, ACC_BITS, ACC_OVF);
                    ovf <= {1'b0, out_of_range(mac_sum, ACC_BITS)};
                end
                OP_BIAS: begin
                    acc <= fit(bias_sum, ACC_BITS, ACC_OVF);
                    ovf <= {1'b0, out_of_range(bias_sum, ACC_BITS)};
                end
                OP_ACT: begin
                    y   <= pre_v;
                    y2  <= act_fn(pre_v);
                    ovf <= {1'b0, out_of_range(pre_r, A_BITS)};
                    if (A_ROUND == STOCHASTIC) lfsr <= u1;
                end
                OP_CLS: begin
                    y   <= cls_v;
                    ovf <= {1'b0, out_of_range(cls_r, E_BITS)};
                    if (E_ROUND == STOCHASTIC) lfsr <= u1;
                end
                OP_LABEL: begin
                    y   <= label_v;
                    ovf <= {1'b0, out_of_range(label_r, E_BITS)};
                end
                OP_BACK: begin
                    y   <= active(b_w) ? back_v : 128'sd0;
                    ovf <= {1'b0, out_of_range(back_r, E_BITS)};
                    if (E_ROUND == STOCHASTIC) lfsr <= u1;
                end
                OP_OUTERR: begin
                    y   <= outerr_v;
                    ovf <= {1'b0, out_of_range(outerr_r, E_BITS)};
                    if (E_ROUND == STOCHASTIC) lfsr <= u1;
                end
                OP_UPD, OP_UPDB: begin
                    y   <= delta_v;
                    y2  <= wb_v;
                    ovf <= {out_of_range(wb_r, W_BITS), out_of_range(delta_r, U_BITS)};
                    case (UPD_DRAWS)
                        2'd1: lfsr <= u1;
                        2'd2: lfsr <= u2;
                        default: ;
                    endcase
                end
                default: ;
            endcase
        end
    end

endmodule

`default_nettype wire
