#include "fer/tensor.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <stdexcept>

namespace fer {

namespace {
constexpr std::size_t kAlignment = 64;  // one cache line, one AVX-512 register

float* allocate_aligned(std::size_t count) {
    if (count == 0) return nullptr;
    std::size_t bytes = (count * sizeof(float) + kAlignment - 1) / kAlignment * kAlignment;
    void* p = std::aligned_alloc(kAlignment, bytes);
    if (!p) throw std::bad_alloc();
    return static_cast<float*>(p);
}
}  // namespace

std::string Shape::str() const {
    char text[96];
    std::snprintf(text, sizeof text, "(%d,%d,%d,%d)", n, c, h, w);
    return text;
}

void Tensor::AlignedFree::operator()(float* p) const {
    std::free(p);
}

Tensor::Tensor(Shape shape) : Tensor(shape, 0.0f) {}

Tensor::Tensor(Shape shape, float fill_value) {
    if (shape.n < 0 || shape.c < 0 || shape.h < 0 || shape.w < 0)
        throw std::invalid_argument("Tensor: negative dimension in shape " + shape.str());
    resize(shape);
    fill(fill_value);
}

Tensor::Tensor(const Tensor& other) : Tensor() {
    *this = other;
}

Tensor& Tensor::operator=(const Tensor& other) {
    if (this == &other) return *this;
    resize(other.shape_);
    std::copy(other.data(), other.data() + other.size(), data());
    return *this;
}

void Tensor::resize(Shape shape) {
    if (shape.n < 0 || shape.c < 0 || shape.h < 0 || shape.w < 0)
        throw std::invalid_argument("Tensor: negative dimension in shape " + shape.str());
    std::size_t needed = shape.size();
    if (needed > capacity_) {
        data_.reset(allocate_aligned(needed));
        capacity_ = needed;
    }
    shape_ = shape;
}

void Tensor::reshape(Shape shape) {
    if (shape.size() != shape_.size())
        throw std::invalid_argument("Tensor::reshape: " + shape_.str() + " has " + std::to_string(size()) +
                                    " elements, " + shape.str() + " needs " + std::to_string(shape.size()));
    shape_ = shape;
}

void Tensor::fill(float value) {
    std::fill(data(), data() + size(), value);
}

// what is a view so that a literal costs no allocation on the hot path (every backward checks its shapes).
void check_same_shape(const Shape& a, const Shape& b, std::string_view what) {
    if (!(a == b)) throw std::invalid_argument(std::string(what) + ": shape " + a.str() + " does not match " + b.str());
}

}  // namespace fer
