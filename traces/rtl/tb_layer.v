// tb_layer.v -- replays one layer of one training step of `locus trace
// golden` on layer_datapath.v and checks every value bit for bit.
//
// Build with the parameters of the golden run (manifest.json, "verilog"):
//   iverilog -g2012 -o tb_layer.vvp -Ptb_layer.W_BITS=16 ... \
//       traces/rtl/layer_datapath.v traces/rtl/tb_layer.v
// Run on one layer of one step:
//   vvp -n tb_layer.vvp +dir=<golden>/step0/layer1
//
// The bench reads the layer's $readmemh images, loads the LFSR state
// recorded before the layer's forward step and recomputes, in the order the
// modelled core does: the forward mat-vec (accumulators, pre-activations,
// activations), the error (hidden layer: classifier projection, label,
// transposed classifier, derivative; output layer: h - onehot), and the
// outer-product update of weights and biases (update values, new weights).
// Every value, the LFSR state at each phase boundary and the overflow event
// counts are compared with the golden files. On the first difference it
// prints `MISMATCH layer L tensor T index I expected X got Y` and exits
// with status 1; otherwise it prints `PASS <n> values`.

`timescale 1ns / 1ps
`default_nettype none

module tb_layer;
    parameter integer W_BITS   = 16;
    parameter integer W_FRAC   = 14;
    parameter integer W_ROUND  = 1;
    parameter integer W_OVF    = 0;
    parameter integer A_BITS   = 16;
    parameter integer A_FRAC   = 8;
    parameter integer A_ROUND  = 1;
    parameter integer A_OVF    = 0;
    parameter integer E_BITS   = 16;
    parameter integer E_FRAC   = 12;
    parameter integer E_ROUND  = 1;
    parameter integer E_OVF    = 0;
    parameter integer U_BITS   = 16;
    parameter integer U_FRAC   = 14;
    parameter integer U_ROUND  = 1;
    parameter integer U_OVF    = 0;
    parameter integer C_BITS   = 8;
    parameter integer C_FRAC   = 6;
    parameter integer ACC_BITS = 32;
    parameter integer ACC_OVF  = 0;
    parameter integer LR_SHIFT = 7;
    parameter integer ACT_FN   = 0;
    parameter [31:0]  LFSR_SEED = 32'h0000ACE1;
    // Words of the largest tensor: rows * (cols + 1), classes * rows or cols.
    parameter integer MAXN     = 65536;

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

    reg               clk = 1'b0;
    reg               rst = 1'b0;
    reg               lfsr_load = 1'b0;
    reg  [31:0]       lfsr_value = 32'd0;
    reg  [3:0]        op = OP_NOP;
    reg  signed [63:0] a = 64'sd0;
    reg  signed [63:0] b = 64'sd0;
    reg  signed [63:0] c = 64'sd0;
    wire signed [63:0] acc;
    wire signed [63:0] y;
    wire signed [63:0] y2;
    wire [1:0]        ovf;
    wire [31:0]       lfsr;

    layer_datapath #(
        .W_BITS(W_BITS), .W_FRAC(W_FRAC), .W_ROUND(W_ROUND), .W_OVF(W_OVF),
        .A_BITS(A_BITS), .A_FRAC(A_FRAC), .A_ROUND(A_ROUND), .A_OVF(A_OVF),
        .E_BITS(E_BITS), .E_FRAC(E_FRAC), .E_ROUND(E_ROUND), .E_OVF(E_OVF),
        .U_BITS(U_BITS), .U_FRAC(U_FRAC), .U_ROUND(U_ROUND), .U_OVF(U_OVF),
        .C_BITS(C_BITS), .C_FRAC(C_FRAC), .ACC_BITS(ACC_BITS), .ACC_OVF(ACC_OVF),
        .LR_SHIFT(LR_SHIFT), .ACT_FN(ACT_FN), .LFSR_SEED(LFSR_SEED)
    ) dut (
        .clk(clk), .rst(rst), .lfsr_load(lfsr_load), .lfsr_value(lfsr_value),
        .op(op), .a(a), .b(b), .c(c),
        .acc(acc), .y(y), .y2(y2), .ovf(ovf), .lfsr(lfsr)
    );

    // Golden images (raw words as read; sign-extended when used).
    reg [63:0] meta_m  [0:7];
    reg [63:0] x_m     [0:MAXN-1];
    reg [63:0] w0_m    [0:MAXN-1];
    reg [63:0] b0_m    [0:MAXN-1];
    reg [63:0] acc_m   [0:MAXN-1];
    reg [63:0] pre_m   [0:MAXN-1];
    reg [63:0] h_m     [0:MAXN-1];
    reg [63:0] cls_m   [0:MAXN-1];
    reg [63:0] yacc_m  [0:MAXN-1];
    reg [63:0] yhat_m  [0:MAXN-1];
    reg [63:0] eacc_m  [0:MAXN-1];
    reg [63:0] e_m     [0:MAXN-1];
    reg [63:0] upd_m   [0:MAXN-1];
    reg [63:0] w1_m    [0:MAXN-1];
    reg [63:0] b1_m    [0:MAXN-1];
    reg [63:0] lfsr_m  [0:3];
    reg [63:0] ovf_m   [0:5];

    // Values computed by the bench and used downstream.
    reg signed [63:0] h_v [0:MAXN-1];
    reg signed [63:0] d_v [0:MAXN-1];
    reg signed [63:0] e_v [0:MAXN-1];

    string  dir;
    integer step, layer, rows, cols, classes, is_out, label, checked;
    integer i, j, k, n;
    integer events [0:5];

    // The low `bits` bits of a word as a signed value.
    function automatic signed [63:0] sx(input [63:0] v, input integer bits);
        sx = $signed(v << (64 - bits)) >>> (64 - bits);
    endfunction

    task automatic tick;
        begin
            #1 clk = 1'b1;
            #1 clk = 1'b0;
        end
    endtask

    task automatic run(input [3:0] o, input signed [63:0] ia, input signed [63:0] ib,
                       input signed [63:0] ic);
        begin
            op = o;
            a  = ia;
            b  = ib;
            c  = ic;
            tick;
            op = OP_NOP;
        end
    endtask

    task automatic check(input string tensor, input integer index,
                         input signed [63:0] expected, input signed [63:0] got);
        begin
            if (expected !== got) begin
                $display("MISMATCH layer %0d tensor %s index %0d expected %0d got %0d (step %0d)",
                         layer, tensor, index, expected, got, step);
                $fatal(1, "golden vector mismatch in %s", dir);
            end
            checked = checked + 1;
        end
    endtask

    // Fails unless a file filled the first word of its memory.
    task automatic need(input [63:0] first, input string file);
        begin
            if (^first === 1'bx) begin
                $display("ERROR cannot read %s/%s", dir, file);
                $fatal(1, "missing golden file");
            end
        end
    endtask

    initial begin
        checked = 0;
        for (k = 0; k < 6; k = k + 1) events[k] = 0;
        if (!$value$plusargs("dir=%s", dir)) begin
            $display("usage: vvp -n tb_layer.vvp +dir=<golden>/step<S>/layer<L>");
            $fatal(1, "no +dir");
        end
        $readmemh({dir, "/meta.hex"}, meta_m, 0, 7);
        need(meta_m[0], "meta.hex");
        step    = meta_m[0];
        layer   = meta_m[1];
        rows    = meta_m[2];
        cols    = meta_m[3];
        classes = meta_m[4];
        is_out  = meta_m[5];
        label   = meta_m[6];
        if (rows * (cols + 1) > MAXN || classes * rows > MAXN || cols > MAXN) begin
            $display("ERROR layer %0d is %0d x %0d with %0d classes: rebuild with -Ptb_layer.MAXN=%0d or more",
                     layer, rows, cols, classes, rows * (cols + 1));
            $fatal(1, "MAXN too small");
        end
        $readmemh({dir, "/x.hex"}, x_m, 0, cols - 1);
        need(x_m[0], "x.hex");
        $readmemh({dir, "/w_before.hex"}, w0_m, 0, rows * cols - 1);
        need(w0_m[0], "w_before.hex");
        $readmemh({dir, "/b_before.hex"}, b0_m, 0, rows - 1);
        need(b0_m[0], "b_before.hex");
        $readmemh({dir, "/acc.hex"}, acc_m, 0, rows - 1);
        need(acc_m[0], "acc.hex");
        $readmemh({dir, "/pre.hex"}, pre_m, 0, rows - 1);
        need(pre_m[0], "pre.hex");
        $readmemh({dir, "/h.hex"}, h_m, 0, rows - 1);
        need(h_m[0], "h.hex");
        $readmemh({dir, "/e.hex"}, e_m, 0, rows - 1);
        need(e_m[0], "e.hex");
        $readmemh({dir, "/upd.hex"}, upd_m, 0, rows * (cols + 1) - 1);
        need(upd_m[0], "upd.hex");
        $readmemh({dir, "/w_after.hex"}, w1_m, 0, rows * cols - 1);
        need(w1_m[0], "w_after.hex");
        $readmemh({dir, "/b_after.hex"}, b1_m, 0, rows - 1);
        need(b1_m[0], "b_after.hex");
        $readmemh({dir, "/lfsr.hex"}, lfsr_m, 0, 3);
        need(lfsr_m[0], "lfsr.hex");
        $readmemh({dir, "/ovf.hex"}, ovf_m, 0, 5);
        need(ovf_m[0], "ovf.hex");
        if (is_out) begin
            $readmemh({dir, "/yhat.hex"}, yhat_m, 0, rows - 1);
            need(yhat_m[0], "yhat.hex");
        end else begin
            $readmemh({dir, "/yhat.hex"}, yhat_m, 0, classes - 1);
            need(yhat_m[0], "yhat.hex");
            $readmemh({dir, "/classifier.hex"}, cls_m, 0, classes * rows - 1);
            need(cls_m[0], "classifier.hex");
            $readmemh({dir, "/yhat_acc.hex"}, yacc_m, 0, classes - 1);
            need(yacc_m[0], "yhat_acc.hex");
            $readmemh({dir, "/e_acc.hex"}, eacc_m, 0, rows - 1);
            need(eacc_m[0], "e_acc.hex");
        end

        // Reset (LFSR <= seed), then the state recorded before this layer.
        rst = 1'b1;
        tick;
        rst = 1'b0;
        if (step == 0 && layer == 0) check("lfsr_seed", 0, lfsr_m[0], lfsr);
        lfsr_value = lfsr_m[0];
        lfsr_load  = 1'b1;
        tick;
        lfsr_load  = 1'b0;

        // Forward: acc = sum_j w[i][j] x[j] + (b[i] << A_FRAC); pre; h.
        for (i = 0; i < rows; i = i + 1) begin
            run(OP_CLR, 0, 0, 0);
            for (j = 0; j < cols; j = j + 1) begin
                run(OP_MAC, sx(w0_m[i * cols + j], W_BITS), sx(x_m[j], A_BITS), 0);
                events[0] = events[0] + ovf[0];
            end
            run(OP_BIAS, sx(b0_m[i], W_BITS), 0, 0);
            events[0] = events[0] + ovf[0];
            check("acc", i, sx(acc_m[i], ACC_BITS), acc);
            run(OP_ACT, 0, 0, 0);
            events[1] = events[1] + ovf[0];
            check("pre", i, sx(pre_m[i], A_BITS), y);
            h_v[i] = is_out ? y : y2;
            check("h", i, sx(h_m[i], A_BITS), h_v[i]);
        end
        check("lfsr", 1, lfsr_m[1], lfsr);
        check("ovf", 0, ovf_m[0], events[0]);
        check("ovf", 1, ovf_m[1], events[1]);

        // Error.
        if (!is_out) begin
            for (k = 0; k < classes; k = k + 1) begin
                run(OP_CLR, 0, 0, 0);
                for (j = 0; j < rows; j = j + 1) begin
                    run(OP_MAC, sx(cls_m[k * rows + j], C_BITS), h_v[j], 0);
                    events[2] = events[2] + ovf[0];
                end
                check("yhat_acc", k, sx(yacc_m[k], ACC_BITS), acc);
                run(OP_CLS, 0, 0, 0);
                events[3] = events[3] + ovf[0];
                check("yhat", k, sx(yhat_m[k], E_BITS), y);
                d_v[k] = y;
            end
            run(OP_LABEL, d_v[label], 0, 0);
            events[3] = events[3] + ovf[0];
            d_v[label] = y;
            for (j = 0; j < rows; j = j + 1) begin
                run(OP_CLR, 0, 0, 0);
                for (k = 0; k < classes; k = k + 1) begin
                    run(OP_MAC, sx(cls_m[k * rows + j], C_BITS), d_v[k], 0);
                    events[2] = events[2] + ovf[0];
                end
                check("e_acc", j, sx(eacc_m[j], ACC_BITS), acc);
                run(OP_BACK, 0, h_v[j], 0);
                events[3] = events[3] + ovf[0];
                e_v[j] = y;
                check("e", j, sx(e_m[j], E_BITS), e_v[j]);
            end
        end else begin
            for (j = 0; j < rows; j = j + 1) begin
                run(OP_OUTERR, h_v[j], 0, 0);
                events[3] = events[3] + ovf[0];
                check("yhat", j, sx(yhat_m[j], E_BITS), y);
                e_v[j] = y;
            end
            run(OP_LABEL, e_v[label], 0, 0);
            events[3] = events[3] + ovf[0];
            e_v[label] = y;
            for (j = 0; j < rows; j = j + 1) check("e", j, sx(e_m[j], E_BITS), e_v[j]);
        end
        check("lfsr", 2, lfsr_m[2], lfsr);
        check("ovf", 2, ovf_m[2], events[2]);
        check("ovf", 3, ovf_m[3], events[3]);

        // Update, row-major over [W | b].
        for (i = 0; i < rows; i = i + 1) begin
            for (j = 0; j < cols; j = j + 1) begin
                n = i * (cols + 1) + j;
                run(OP_UPD, sx(w0_m[i * cols + j], W_BITS), e_v[i], sx(x_m[j], A_BITS));
                events[4] = events[4] + ovf[0];
                events[5] = events[5] + ovf[1];
                check("upd", n, sx(upd_m[n], U_BITS), y);
                check("w_after", i * cols + j, sx(w1_m[i * cols + j], W_BITS), y2);
            end
            n = i * (cols + 1) + cols;
            run(OP_UPDB, sx(b0_m[i], W_BITS), e_v[i], 0);
            events[4] = events[4] + ovf[0];
            events[5] = events[5] + ovf[1];
            check("upd", n, sx(upd_m[n], U_BITS), y);
            check("b_after", i, sx(b1_m[i], W_BITS), y2);
        end
        check("lfsr", 3, lfsr_m[3], lfsr);
        check("ovf", 4, ovf_m[4], events[4]);
        check("ovf", 5, ovf_m[5], events[5]);

        $display("PASS %0d values (step %0d layer %0d)", checked, step, layer);
        $finish;
    end
endmodule

`default_nettype wire
