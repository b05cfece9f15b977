/* tests/train helper for test_train_torch.py: builds a small network with
 * several op types (see NET in test_train_torch.py, which builds the same net
 * in PyTorch), random weights/input/dout (seeded), runs cc_train_forward,
 * cc_train_backward and one AdamW step, and writes everything as raw
 * little-endian float32 to <file>:
 *   mean[4] std[4] oscale[3] oshift[3] | params[P] | rho[B*H*W*4] |
 *   dout[B*H*W*3] | out[B*H*W*3] | grads[P] | input_grad[B*H*W*4] |
 *   params after one AdamW step (lr 1e-2, betas 0.9/0.999, eps 1e-8,
 *   weight decay 0.1 on conv weights) with the gradients above.
 * usage: train_torch_helper <file>   (prints B H W P) */
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"
#include "train/train_testlib.h"

#define B 2
#define H 8
#define W 8

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <file>\n", argv[0]);
        return 2;
    }
    cc_nn_model m;
    tl_rng r = {2024};
    cc_nn_model_init(&m);
    const int resid[3] = {0, 2, -1};
    int x = tl_input(&m, 4, &r);
    int c1 = tl_conv(&m, &r, "c1", CC_OP_CONV2D, x, 6, 3, 1, CC_PAD_REFLECT, CC_ACT_SILU, 1);
    int c2 = tl_conv(&m, &r, "c2", CC_OP_CONV2D, c1, 8, 3, 2, CC_PAD_ZERO, CC_ACT_LEAKY_RELU, 1);
    int af = tl_affine(&m, &r, "aff", c2, CC_ACT_RELU);
    int mp = tl_op(&m, CC_OP_MAXPOOL2, "mp", CC_ACT_NONE, af, -1, -1);
    int ub = tl_op(&m, CC_OP_UPSAMPLE2_BILINEAR, "upb", CC_ACT_NONE, mp, -1, -1);
    int ct = tl_op(&m, CC_OP_CONCAT, "cat", CC_ACT_NONE, ub, c2, -1);
    int c3 = tl_conv(&m, &r, "c3", CC_OP_CONV2D, ct, 8, 1, 1, CC_PAD_ZERO, CC_ACT_SIGMOID, 1);
    int ap = tl_op(&m, CC_OP_AVGPOOL2, "ap", CC_ACT_NONE, c3, -1, -1);
    int un = tl_op(&m, CC_OP_UPSAMPLE2_NEAREST, "upn", CC_ACT_NONE, ap, -1, -1);
    int ad = tl_op(&m, CC_OP_ADD, "add", CC_ACT_NONE, un, c3, -1);
    int ac = tl_op(&m, CC_OP_ACT, "act", CC_ACT_SILU, ad, -1, -1);
    int u2 = tl_op(&m, CC_OP_UPSAMPLE2_BILINEAR, "up2", CC_ACT_NONE, ac, -1, -1);
    int c4 = tl_conv(&m, &r, "c4", CC_OP_CONV2D, c1, 8, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, 0);
    int a2 = tl_op(&m, CC_OP_ADD, "add2", CC_ACT_RELU, u2, c4, -1);
    int c5 = tl_conv(&m, &r, "c5", CC_OP_CONV2D, a2, 3, 3, 1, CC_PAD_REFLECT, CC_ACT_NONE, 1);
    int o = tl_output(&m, &r, c5, resid);
    if (o < 0 || cc_nn_model_finalize(&m) != CC_OK) {
        fprintf(stderr, "build: %s\n", cc_error_message());
        return 1;
    }
    cc_train_net *net = NULL;
    CHECK_OK(cc_train_net_create(&m, B, H, W, &net));
    if (!net)
        return 1;
    const size_t P = cc_train_nparams(net), nrho = B * H * W * 4, nout = B * H * W * 3;
    float *p = malloc(P * sizeof(float)), *p2 = malloc(P * sizeof(float));
    float *rho = malloc(nrho * sizeof(float)), *dout = malloc(nout * sizeof(float));
    for (size_t i = 0; i < nrho; i++)
        rho[i] = 0.2f + 0.15f * tl_uniform(&r);
    for (size_t i = 0; i < nout; i++)
        dout[i] = tl_uniform(&r);
    cc_train_get_params(net, p);
    const float *out;
    CHECK_OK(cc_train_forward(net, B, H, W, rho, &out));
    cc_train_zero_grads(net);
    CHECK_OK(cc_train_backward(net, dout));
    cc_adamw_state st;
    cc_adamw_options opt;
    cc_adamw_options_init(&opt);
    opt.lr = 1e-2;
    opt.weight_decay = 0.1;
    CHECK_OK(cc_adamw_init(&st, P));
    FILE *fp = fopen(argv[1], "wb");
    if (!fp) {
        perror(argv[1]);
        return 1;
    }
    const cc_nn_node *on = &m.nodes[o];
    fwrite(m.input.mean, sizeof(float), 4, fp);
    fwrite(m.input.std, sizeof(float), 4, fp);
    fwrite(on->scale, sizeof(float), 3, fp);
    fwrite(on->shift, sizeof(float), 3, fp);
    fwrite(p, sizeof(float), P, fp);
    fwrite(rho, sizeof(float), nrho, fp);
    fwrite(dout, sizeof(float), nout, fp);
    fwrite(out, sizeof(float), nout, fp);
    fwrite(cc_train_grads(net), sizeof(float), P, fp);
    fwrite(cc_train_input_grad(net), sizeof(float), nrho, fp);
    CHECK_OK(cc_train_adamw_step(net, &st, &opt, cc_train_grads(net)));
    cc_train_get_params(net, p2);
    fwrite(p2, sizeof(float), P, fp);
    if (fclose(fp) != 0)
        return 1;
    printf("%d %d %d %zu\n", B, H, W, P);
    cc_adamw_free(&st);
    free(p);
    free(p2);
    free(rho);
    free(dout);
    cc_train_net_free(net);
    cc_nn_model_free(&m);
    return cc_test_failures ? 1 : 0;
}
