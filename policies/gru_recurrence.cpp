// The GRU recurrence of policies/gru.py (_Recurrence) as one C++ loop through time, forward and
// backward, for P independent GRUs of one size. Built on first use by policies/compiled_gru.py;
// the PyTorch code of policies/gru.py stays the reference and the fallback.
//
// Per step and network: the hidden projection is one matrix product (ATen's addmm, MKL on the
// usual builds) and the gate math is one pass over the batch in ATen's SIMD vectors. Layouts are
// network-major, (P, T, B, ...), so that every step of a network is one contiguous block.

#include <torch/extension.h>

#include <ATen/cpu/vec/vec.h>

#include <vector>

namespace {

using Vec = at::vec::Vectorized<float>;

inline Vec sigmoid(const Vec& x) {
  const Vec one(1.0f);
  return one / (one + x.neg().exp());
}

void check_float_cpu(const at::Tensor& tensor, const char* name) {
  TORCH_CHECK(tensor.device().is_cpu(), name, " must be a CPU tensor");
  TORCH_CHECK(tensor.scalar_type() == at::kFloat, name, " must be float32, got ", tensor.scalar_type());
  TORCH_CHECK(tensor.is_contiguous(), name, " must be contiguous");
}

// One step of one network: h = n + z (h_prev - n) with r, z = sigmoid(gi + gh), n = tanh(gi_n + r gh_n).
// Writes h and the saved gates [r, z, n, gh_n] of each batch row.
void step_forward(const float* gates_input, const float* gates_hidden, const float* h_prev, float* h, float* saved,
                  int64_t batch, int64_t hidden) {
  const int64_t width = Vec::size();
  for (int64_t b = 0; b < batch; ++b) {
    const float* gi = gates_input + b * 3 * hidden;
    const float* gh = gates_hidden + b * 3 * hidden;
    const float* hp = h_prev + b * hidden;
    float* out = h + b * hidden;
    float* sv = saved + b * 4 * hidden;
    for (int64_t j = 0; j < hidden; j += width) {
      const int64_t count = std::min(width, hidden - j);
      const Vec r = sigmoid(Vec::loadu(gi + j, count) + Vec::loadu(gh + j, count));
      const Vec z = sigmoid(Vec::loadu(gi + hidden + j, count) + Vec::loadu(gh + hidden + j, count));
      const Vec gh_n = Vec::loadu(gh + 2 * hidden + j, count);
      const Vec n = (Vec::loadu(gi + 2 * hidden + j, count) + r * gh_n).tanh();
      const Vec h_new = n + z * (Vec::loadu(hp + j, count) - n);
      h_new.store(out + j, count);
      r.store(sv + j, count);
      z.store(sv + hidden + j, count);
      n.store(sv + 2 * hidden + j, count);
      gh_n.store(sv + 3 * hidden + j, count);
    }
  }
}

// One step of one network backwards: from dh = grad_output + grad_h, the gradients of the gates'
// pre-activations (those of the input projection; the hidden projection's differ in the candidate,
// times r) and the part of the previous state's gradient that bypasses the matrix, dh z.
void step_backward(const float* grad_output, float* grad_h, const float* saved, const float* h_prev,
                   float* grad_gates_input, float* grad_gates_hidden, int64_t batch, int64_t hidden) {
  const int64_t width = Vec::size();
  const Vec one(1.0f);
  for (int64_t b = 0; b < batch; ++b) {
    const float* go = grad_output + b * hidden;
    float* gh = grad_h + b * hidden;
    const float* sv = saved + b * 4 * hidden;
    const float* hp = h_prev + b * hidden;
    float* dgi = grad_gates_input + b * 3 * hidden;
    float* dgh = grad_gates_hidden + b * 3 * hidden;
    for (int64_t j = 0; j < hidden; j += width) {
      const int64_t count = std::min(width, hidden - j);
      const Vec dh = Vec::loadu(go + j, count) + Vec::loadu(gh + j, count);
      const Vec r = Vec::loadu(sv + j, count);
      const Vec z = Vec::loadu(sv + hidden + j, count);
      const Vec n = Vec::loadu(sv + 2 * hidden + j, count);
      const Vec gh_n = Vec::loadu(sv + 3 * hidden + j, count);
      const Vec d_n = dh * (one - z) * (one - n * n);
      const Vec d_z = dh * (Vec::loadu(hp + j, count) - n) * z * (one - z);
      const Vec d_r = d_n * gh_n * r * (one - r);
      d_r.store(dgi + j, count);
      d_z.store(dgi + hidden + j, count);
      d_n.store(dgi + 2 * hidden + j, count);
      d_r.store(dgh + j, count);
      d_z.store(dgh + hidden + j, count);
      (d_n * r).store(dgh + 2 * hidden + j, count);
      (dh * z).store(gh + j, count);
    }
  }
}

void check_arguments(const at::Tensor& gates_input, const at::Tensor& h0, const at::Tensor& weight_hh,
                     const at::Tensor& bias_hh) {
  check_float_cpu(gates_input, "gates_input");
  check_float_cpu(h0, "h0");
  check_float_cpu(weight_hh, "weight_hh");
  check_float_cpu(bias_hh, "bias_hh");
  TORCH_CHECK(gates_input.dim() == 4 && gates_input.size(3) % 3 == 0, "gates_input must be (P, T, B, 3H)");
  const int64_t pairs = gates_input.size(0), batch = gates_input.size(2), hidden = gates_input.size(3) / 3;
  TORCH_CHECK(h0.sizes() == at::IntArrayRef({pairs, batch, hidden}), "h0 must be (P, B, H)");
  TORCH_CHECK(weight_hh.sizes() == at::IntArrayRef({pairs, 3 * hidden, hidden}), "weight_hh must be (P, 3H, H)");
  TORCH_CHECK(bias_hh.sizes() == at::IntArrayRef({pairs, 3 * hidden}), "bias_hh must be (P, 3H)");
}

}  // namespace

// Outputs (P, T, B, H) and the saved gates (P, T, B, 4H): r, z, n and the hidden projection's
// candidate part W_hn h + b_hn.
std::vector<at::Tensor> forward(const at::Tensor& gates_input, const at::Tensor& h0, const at::Tensor& weight_hh,
                                const at::Tensor& bias_hh) {
  check_arguments(gates_input, h0, weight_hh, bias_hh);
  const int64_t pairs = gates_input.size(0), steps = gates_input.size(1), batch = gates_input.size(2);
  const int64_t hidden = gates_input.size(3) / 3;
  at::NoGradGuard no_grad;
  at::Tensor outputs = at::empty({pairs, steps, batch, hidden}, gates_input.options());
  at::Tensor saved = at::empty({pairs, steps, batch, 4 * hidden}, gates_input.options());
  at::Tensor gates_hidden = at::empty({batch, 3 * hidden}, gates_input.options());
  const int64_t step_h = batch * hidden;  // floats of one step of one network, per gate
  for (int64_t p = 0; p < pairs; ++p) {
    const at::Tensor weight_t = weight_hh[p].t(), bias = bias_hh[p];
    const at::Tensor outputs_p = outputs[p], h0_p = h0[p];
    const float* gi = gates_input.data_ptr<float>() + p * steps * 3 * step_h;
    float* out = outputs_p.data_ptr<float>();
    float* sv = saved.data_ptr<float>() + p * steps * 4 * step_h;
    for (int64_t t = 0; t < steps; ++t) {
      const at::Tensor h_prev = t == 0 ? h0_p : outputs_p[t - 1];
      at::addmm_out(gates_hidden, bias, h_prev, weight_t);
      step_forward(gi + t * 3 * step_h, gates_hidden.data_ptr<float>(), h_prev.data_ptr<float>(), out + t * step_h,
                   sv + t * 4 * step_h, batch, hidden);
    }
  }
  return {outputs, saved};
}

// Gradients of the input projections (P, T, B, 3H), of h0 (P, B, H), of weight_hh and of bias_hh.
std::vector<at::Tensor> backward(const at::Tensor& grad_outputs, const at::Tensor& h0, const at::Tensor& weight_hh,
                                 const at::Tensor& outputs, const at::Tensor& saved) {
  check_float_cpu(grad_outputs, "grad_outputs");
  check_float_cpu(outputs, "outputs");
  check_float_cpu(saved, "saved");
  TORCH_CHECK(grad_outputs.sizes() == outputs.sizes(), "grad_outputs must have the outputs' shape");
  const int64_t pairs = outputs.size(0), steps = outputs.size(1), batch = outputs.size(2), hidden = outputs.size(3);
  at::NoGradGuard no_grad;
  at::Tensor grad_gates_input = at::empty({pairs, steps, batch, 3 * hidden}, outputs.options());
  at::Tensor grad_gates_hidden = at::empty({pairs, steps, batch, 3 * hidden}, outputs.options());
  at::Tensor grad_h = at::zeros({pairs, batch, hidden}, outputs.options());
  const int64_t step_h = batch * hidden;
  for (int64_t p = 0; p < pairs; ++p) {
    const at::Tensor weight = weight_hh[p], grad_gates_hidden_p = grad_gates_hidden[p];
    at::Tensor grad_h_p = grad_h[p];
    const float* go = grad_outputs.data_ptr<float>() + p * steps * step_h;
    const float* out = outputs.data_ptr<float>() + p * steps * step_h;
    const float* sv = saved.data_ptr<float>() + p * steps * 4 * step_h;
    float* dgi = grad_gates_input.data_ptr<float>() + p * steps * 3 * step_h;
    float* dgh = grad_gates_hidden_p.data_ptr<float>();
    for (int64_t t = steps - 1; t >= 0; --t) {
      const float* h_prev = t == 0 ? h0.data_ptr<float>() + p * step_h : out + (t - 1) * step_h;
      step_backward(go + t * step_h, grad_h_p.data_ptr<float>(), sv + t * 4 * step_h, h_prev, dgi + t * 3 * step_h,
                    dgh + t * 3 * step_h, batch, hidden);
      grad_h_p.addmm_(grad_gates_hidden_p[t], weight);
    }
  }
  // d weight_hh = sum over steps of d gates_hidden^T h_prev: the steps after the first read the
  // outputs, the first reads h0.
  at::Tensor grad_weight = at::bmm(grad_gates_hidden.select(1, 0).transpose(1, 2), h0);
  if (steps > 1) {
    const at::Tensor later = grad_gates_hidden.narrow(1, 1, steps - 1).reshape({pairs, (steps - 1) * batch, 3 * hidden});
    const at::Tensor previous = outputs.narrow(1, 0, steps - 1).reshape({pairs, (steps - 1) * batch, hidden});
    grad_weight.baddbmm_(later.transpose(1, 2), previous);
  }
  at::Tensor grad_bias = grad_gates_hidden.view({pairs, steps * batch, 3 * hidden}).sum(1);
  return {grad_gates_input, grad_h, grad_weight, grad_bias};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "GRU recurrence forward: outputs and saved gates");
  m.def("backward", &backward, "GRU recurrence backward: input-projection, h0, weight and bias gradients");
}
