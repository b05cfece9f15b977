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
#include "kernels/train/train.h"
#include "nn/nn_testlib.h"

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
    tl_seed(2024);
    cc_nn_model_init(&m);
    const int resid[3] = {0, 2, -1};
    int x = tl_input(&m, 4);
    int c1 = tl_layer(&m, "c1", CC_OP_CONV2D, x, 6, 3, 1, CC_PAD_REFLECT, CC_ACT_SILU, TL_ALPHA);
    int c2 = tl_layer(&m, "c2", CC_OP_CONV2D, c1, 8, 3, 2, CC_PAD_ZERO, CC_ACT_LEAKY_RELU, TL_ALPHA);
    int af = tl_affine(&m, "aff", c2, CC_ACT_RELU);
    int mp = tl_opv(&m, "mp", CC_OP_MAXPOOL2, CC_ACT_NONE, 1, &af);
    int ub = tl_opv(&m, "upb", CC_OP_UPSAMPLE2_BILINEAR, CC_ACT_NONE, 1, &mp);
    int ct = tl_opv(&m, "cat", CC_OP_CONCAT, CC_ACT_NONE, 2, (const int[]){ub, c2});
    int c3 = tl_layer(&m, "c3", CC_OP_CONV2D, ct, 8, 1, 1, CC_PAD_ZERO, CC_ACT_SIGMOID, TL_ALPHA);
    int ap = tl_opv(&m, "ap", CC_OP_AVGPOOL2, CC_ACT_NONE, 1, &c3);
    int un = tl_opv(&m, "upn", CC_OP_UPSAMPLE2_NEAREST, CC_ACT_NONE, 1, &ap);
    int ad = tl_opv(&m, "add", CC_OP_ADD, CC_ACT_NONE, 2, (const int[]){un, c3});
    int ac = tl_opv(&m, "act", CC_OP_ACT, CC_ACT_SILU, 1, &ad);
    int u2 = tl_opv(&m, "up2", CC_OP_UPSAMPLE2_BILINEAR, CC_ACT_NONE, 1, &ac);
    int c4 = tl_no_bias(&m, tl_layer(&m, "c4", CC_OP_CONV2D, c1, 8, 1, 1, CC_PAD_ZERO, CC_ACT_NONE, TL_ALPHA));
    int a2 = tl_opv(&m, "add2", CC_OP_ADD, CC_ACT_RELU, 2, (const int[]){u2, c4});
    int c5 = tl_layer(&m, "c5", CC_OP_CONV2D, a2, 3, 3, 1, CC_PAD_REFLECT, CC_ACT_NONE, TL_ALPHA);
    int o = tl_output_resid(&m, c5, resid, 0.0);
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
        rho[i] = 0.2f + 0.15f * tl_sym(1.0f);
    for (size_t i = 0; i < nout; i++)
        dout[i] = tl_sym(1.0f);
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
