/* clearcube: Kalman parameter files (see kalman_model.h). */
#include "pipeline/cloudless/kalman_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/reflectance.h"
#include "io/model_file.h"
#include "kernels/nn.h"

cc_status cc_kf_model_save(const char *path, const cc_kf_params *p_in, const char *note)
{
    cc_status st = cc_kf_params_check(p_in, path);
    if (st != CC_OK) return st;
    cc_kf_params p = *p_in;
    cc_nn_model m;
    cc_nn_model_init(&m);
    cc_nn_input_desc *in = &m.input;
    in->nchannels = CC_CL_NBANDS;
    for (int c = 0; c < CC_CL_NBANDS; c++) {
        snprintf(in->band[c], sizeof in->band[c], "%s", cc_cl_band_names[c]);
        in->resolution_m[c] = 10;
        in->mean[c] = 0;
        in->std[c] = 1;
    }
    in->dn_offset = -CC_REFL_DN_OFFSET_PB04;
    in->quantification = CC_REFL_QUANT;
    int prev = cc_nn_add_input(&m, "input", CC_CL_NBANDS);
    for (int i = 0; i < CC_KF_NPARAMS && prev >= 0; i++) {
        char name[64];
        snprintf(name, sizeof name, "kalman.%s", cc_kf_param_names[i]);
        prev = cc_nn_add_affine(&m, name, prev, CC_ACT_NONE, 0, cc_kf_param_array(&p, i), NULL);
    }
    if (prev >= 0) prev = cc_nn_add_output(&m, "output", prev, NULL, NULL, NULL, CC_REFL_DN_OFFSET_PB04);
    if (prev < 0 || cc_nn_model_finalize(&m) != CC_OK) {
        st = cc_error_status();
        cc_nn_model_free(&m);
        return st;
    }
    size_t len = strlen(CC_KF_MODEL_HEADER) + (note ? strlen(note) : 0) + 2;
    char *prov = malloc(len);
    if (!prov) {
        cc_nn_model_free(&m);
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(prov, len, "%s\n%s", CC_KF_MODEL_HEADER, note ? note : "");
    st = cc_model_file_write(path, &m, prov);
    free(prov);
    cc_nn_model_free(&m);
    return st;
}

cc_status cc_kf_model_load(const char *path, cc_kf_params *p, char **note)
{
    if (note) *note = NULL;
    cc_nn_model m;
    cc_nn_model_init(&m);
    cc_status st = cc_model_file_read(path, &m);
    if (st != CC_OK) goto out;
    const char *pv = m.provenance ? m.provenance : "";
    size_t hl = strlen(CC_KF_MODEL_HEADER);
    if (strncmp(pv, CC_KF_MODEL_HEADER, hl) != 0 || (pv[hl] != '\n' && pv[hl] != 0)) {
        st = cc_error_set(CC_ERR_FORMAT, "%s: not a Kalman parameter file (no '" CC_KF_MODEL_HEADER
                                         "' provenance header)", path);
        goto out;
    }
    cc_kf_params_default(p);
    for (int i = 0; i < CC_KF_NPARAMS; i++) {
        char name[64];
        snprintf(name, sizeof name, "kalman.%s", cc_kf_param_names[i]);
        const cc_nn_node *nd = NULL;
        for (int k = 0; k < m.nnodes; k++)
            if (!strcmp(m.nodes[k].name, name)) nd = &m.nodes[k];
        if (!nd || nd->op != CC_OP_AFFINE || nd->cout != CC_CL_NBANDS || !nd->scale) {
            st = cc_error_set(CC_ERR_FORMAT, "%s: Kalman parameter file without the %s tensor of %d bands", path, name,
                              CC_CL_NBANDS);
            goto out;
        }
        memcpy(cc_kf_param_array(p, i), nd->scale, CC_CL_NBANDS * sizeof(float));
    }
    for (int c = 0; c < CC_CL_NBANDS; c++)
        if (m.input.nchannels != CC_CL_NBANDS || strcmp(m.input.band[c], cc_cl_band_names[c]) != 0) {
            st = cc_error_set(CC_ERR_FORMAT, "%s: Kalman parameter file's bands are not B02..B12", path);
            goto out;
        }
    if ((st = cc_kf_params_check(p, path)) != CC_OK) goto out;
    if (note) {
        const char *rest = pv[hl] ? pv + hl + 1 : "";
        size_t n = strlen(rest) + 1;
        if ((*note = malloc(n)) != NULL) memcpy(*note, rest, n);
    }
    st = CC_OK;
out:
    cc_nn_model_free(&m);
    return st;
}

cc_status cc_kf_model_is_params(const char *path, int *yes)
{
    cc_nn_model m;
    cc_nn_model_init(&m);
    *yes = 0;
    cc_status st = cc_model_file_read(path, &m);
    if (st == CC_OK) {
        const char *pv = m.provenance ? m.provenance : "";
        size_t hl = strlen(CC_KF_MODEL_HEADER);
        *yes = strncmp(pv, CC_KF_MODEL_HEADER, hl) == 0 && (pv[hl] == '\n' || pv[hl] == 0);
    }
    cc_nn_model_free(&m);
    return st;
}
