// Tensor: an owning, 64-byte aligned float32 array with an NCHW shape.
//
// Every activation in fer is 4-D. Dense layers use (N, features, 1, 1), so BatchNorm, Dense and
// friends need no separate 2-D type. Storage only grows: resizing to a smaller or equal size keeps
// the buffer, which is what lets a training step run without allocating once shapes are known.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace fer {

struct Shape {
    int n = 0, c = 0, h = 0, w = 0;

    std::size_t size() const { return std::size_t(n) * std::size_t(c) * std::size_t(h) * std::size_t(w); }
    // Elements in one sample: c * h * w.
    std::size_t sample_size() const { return std::size_t(c) * std::size_t(h) * std::size_t(w); }
    Shape with_batch(int batch) const { return {batch, c, h, w}; }
    bool operator==(const Shape&) const = default;
    std::string str() const;  // "(N,C,H,W)"
};

class Tensor {
public:
    Tensor() = default;
    explicit Tensor(Shape shape);  // zero-filled
    Tensor(Shape shape, float fill);

    Tensor(const Tensor& other);
    Tensor& operator=(const Tensor& other);
    Tensor(Tensor&&) noexcept = default;
    Tensor& operator=(Tensor&&) noexcept = default;

    const Shape& shape() const { return shape_; }
    std::size_t size() const { return shape_.size(); }
    bool empty() const { return size() == 0; }

    float* data() { return data_.get(); }
    const float* data() const { return data_.get(); }
    std::span<float> span() { return {data_.get(), size()}; }
    std::span<const float> span() const { return {data_.get(), size()}; }

    float* sample(int n) { return data_.get() + std::size_t(n) * shape_.sample_size(); }
    const float* sample(int n) const { return data_.get() + std::size_t(n) * shape_.sample_size(); }

    float& at(int n, int c, int h, int w) { return data_[index(n, c, h, w)]; }
    float at(int n, int c, int h, int w) const { return data_[index(n, c, h, w)]; }
    float& operator[](std::size_t i) { return data_[i]; }
    float operator[](std::size_t i) const { return data_[i]; }

    // Changes the shape; contents are unspecified afterwards. Reallocates only when growing.
    void resize(Shape shape);
    // Changes the shape without touching the data; the element count must stay the same.
    void reshape(Shape shape);
    void fill(float value);
    void zero() { fill(0.0f); }

private:
    struct AlignedFree {
        void operator()(float* p) const;
    };
    std::size_t index(int n, int c, int h, int w) const {
        return ((std::size_t(n) * shape_.c + c) * shape_.h + h) * shape_.w + w;
    }

    Shape shape_;
    std::size_t capacity_ = 0;
    std::unique_ptr<float[], AlignedFree> data_;
};

// Throws std::invalid_argument naming `what` when the shapes differ.
void check_same_shape(const Shape& a, const Shape& b, std::string_view what);

}  // namespace fer
