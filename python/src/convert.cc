#include "convert.h"

#include <memory>
#include <vector>

namespace quac::python {

namespace {

// Keeps Python objects alive from C++ storage owners; the last owner may be dropped on a thread that does not hold
// the GIL (the engine releases it while it runs), so the deleter takes it.
struct PyRef {
  py::object object;  // what Python handed us (an array, an annotation of any type)
  py::object array;   // the NumPy array the tensor's data lives in, when it differs from `object`
};

struct PyRefDeleter {
  void operator()(PyRef* ref) const {
    // At interpreter exit the objects are gone with the interpreter; touching them would crash.
    if (!Py_IsInitialized() || _Py_IsFinalizing()) return;
    py::gil_scoped_acquire gil;
    delete ref;
  }
};

std::shared_ptr<void> keep_alive(py::object object, py::object array = py::object()) {
  return std::shared_ptr<PyRef>(new PyRef{std::move(object), std::move(array)}, PyRefDeleter{});
}

// The exception behind the last described callback failure (accessed under the GIL only). A raw reference: a static
// py::object would be released after the interpreter is gone.
PyObject* last_error = nullptr;
std::string last_error_message;

const PyRef* python_owner(const Tensor& tensor) {
  if (!std::get_deleter<PyRefDeleter>(tensor.storage())) return nullptr;
  return static_cast<const PyRef*>(tensor.storage().get());
}

}  // namespace

py::dtype numpy_dtype(DataType type) {
  switch (type) {
    case DataType::kFloat:
      return py::dtype::of<float>();
    case DataType::kDouble:
      return py::dtype::of<double>();
    case DataType::kFloat16:
      return py::dtype("float16");
    case DataType::kInt8:
      return py::dtype::of<int8_t>();
    case DataType::kUInt8:
      return py::dtype::of<uint8_t>();
    case DataType::kInt16:
      return py::dtype::of<int16_t>();
    case DataType::kUInt16:
      return py::dtype::of<uint16_t>();
    case DataType::kInt32:
      return py::dtype::of<int32_t>();
    case DataType::kUInt32:
      return py::dtype::of<uint32_t>();
    case DataType::kInt64:
      return py::dtype::of<int64_t>();
    case DataType::kUInt64:
      return py::dtype::of<uint64_t>();
    case DataType::kBool:
      return py::dtype::of<bool>();
    default:
      QUAC_THROW(kUnsupported, "tensors of type ", dtype_name(type), " cannot be handed to Python");
  }
}

DataType quac_dtype(const py::dtype& dtype) {
  char kind = dtype.kind();
  auto size = dtype.itemsize();
  if (kind == 'f') {
    if (size == 4) return DataType::kFloat;
    if (size == 8) return DataType::kDouble;
    if (size == 2) return DataType::kFloat16;
  } else if (kind == 'i') {
    if (size == 1) return DataType::kInt8;
    if (size == 2) return DataType::kInt16;
    if (size == 4) return DataType::kInt32;
    if (size == 8) return DataType::kInt64;
  } else if (kind == 'u') {
    if (size == 1) return DataType::kUInt8;
    if (size == 2) return DataType::kUInt16;
    if (size == 4) return DataType::kUInt32;
    if (size == 8) return DataType::kUInt64;
  } else if (kind == 'b') {
    return DataType::kBool;
  }
  return DataType::kUndefined;
}

py::array as_array(const py::handle& value, const std::string& what) {
  py::array array = py::array::ensure(value);
  QUAC_CHECK(array, kInvalidArgument, what, " is ", type_name(value), "; expected a NumPy array");
  return array;
}

Tensor tensor_from_array(const py::array& array, const std::string& what) {
  DataType type = quac_dtype(array.dtype());
  QUAC_CHECK(type != DataType::kUndefined, kInvalidArgument, what, " has NumPy dtype ",
             std::string(py::str(array.dtype())), "; expected a numeric array (float, int, uint or bool)");
  py::array a = array;
  if (!a.dtype().attr("isnative").cast<bool>()) a = a.attr("astype")(a.dtype().attr("newbyteorder")("="));
  // The one case that copies: a layout the engine cannot read in place (strided views, Fortran order).
  if (!(a.flags() & py::array::c_style)) a = py::array::ensure(a, py::array::c_style | py::array::forcecast);
  Shape shape(a.shape(), a.shape() + a.ndim());
  void* data = const_cast<void*>(a.data());
  return Tensor::wrap(type, std::move(shape), data, keep_alive(a));
}

py::array array_from_tensor(const Tensor& tensor, bool writeable) {
  QUAC_CHECK(tensor.defined(), kInvalidArgument, "an undefined tensor has no NumPy value");
  py::dtype dtype = numpy_dtype(tensor.dtype());
  std::vector<py::ssize_t> shape(tensor.shape().begin(), tensor.shape().end());
  // The capsule owns a copy of the Tensor (which shares storage), so the array keeps the data alive however long
  // Python holds it; a pooled session buffer is not reused while a copy exists.
  auto* owner = new Tensor(tensor);
  py::capsule base(owner, [](void* p) { delete static_cast<Tensor*>(p); });
  py::array array(dtype, shape, const_cast<void*>(tensor.raw_data()), base);
  if (!writeable) array.attr("setflags")(py::arg("write") = false);
  return array;
}

Tensor tensor_from_annotation(const py::handle& annotation) {
  py::object object = py::reinterpret_borrow<py::object>(annotation);
  bool numeric_candidate = py::isinstance<py::array>(annotation) || py::isinstance<py::int_>(annotation) ||
                           py::isinstance<py::float_>(annotation) || py::isinstance<py::list>(annotation) ||
                           py::isinstance<py::tuple>(annotation) ||
                           py::isinstance(annotation, py::module_::import("numpy").attr("generic"));
  if (numeric_candidate) {
    py::array array = null_array();
    try {
      array = py::array::ensure(object);
    } catch (py::error_already_set&) {
    }
    if (array && quac_dtype(array.dtype()) != DataType::kUndefined) {
      if (!(array.flags() & py::array::c_style) || !array.dtype().attr("isnative").cast<bool>())
        array = py::module_::import("numpy").attr("ascontiguousarray")(array, array.dtype().attr("newbyteorder")("="));
      Shape shape(array.shape(), array.shape() + array.ndim());
      void* data = const_cast<void*>(array.data());
      return Tensor::wrap(quac_dtype(array.dtype()), std::move(shape), data, keep_alive(object, array));
    }
  }
  // No numeric value (a dict, a string, None, a ragged list): an empty tensor that only carries the object.
  return Tensor::wrap(DataType::kUInt8, Shape{0}, nullptr, keep_alive(object));
}

py::object annotation_to_python(const Tensor& annotation) {
  if (const PyRef* ref = python_owner(annotation)) return ref->object;
  if (!annotation.defined()) return py::none();
  py::array array = array_from_tensor(annotation);
  if (annotation.rank() == 0) return array.attr("item")();
  return array;
}

std::string class_name(const py::handle& object) {
  return py::str(py::type::handle_of(object).attr("__name__")).cast<std::string>();
}

std::string type_name(const py::handle& object) {
  std::string name = class_name(object);
  if (py::isinstance<py::tuple>(object) || py::isinstance<py::list>(object))
    name += " of " + std::to_string(py::len(object));
  return name;
}

std::string describe_python_error(const std::string& owner, const std::string& method, py::error_already_set& e) {
  std::string type = "an exception";
  std::string message;
  std::string where;
  try {
    if (e.type()) type = py::str(e.type().attr("__name__")).cast<std::string>();
    if (e.value()) message = py::str(e.value()).cast<std::string>();
    // The innermost frame is where the user's code raised.
    py::object tb = e.trace();
    while (tb && !tb.is_none() && !tb.attr("tb_next").is_none()) tb = tb.attr("tb_next");
    if (tb && !tb.is_none()) {
      std::string file = py::str(tb.attr("tb_frame").attr("f_code").attr("co_filename")).cast<std::string>();
      auto slash = file.find_last_of('/');
      if (slash != std::string::npos) file = file.substr(slash + 1);
      where = " (" + file + ":" + std::to_string(tb.attr("tb_lineno").cast<int>()) + ")";
    }
  } catch (py::error_already_set&) {
    // A broken __str__ must not hide the original failure; the type name is enough.
  }
  std::string description = owner + "." + method + " raised " + type + (message.empty() ? "" : ": " + message) + where;
  Py_XDECREF(last_error);
  last_error = nullptr;
  if (e.value()) {
    last_error = e.value().inc_ref().ptr();
    if (e.trace()) PyException_SetTraceback(last_error, e.trace().ptr());
  }
  last_error_message = description;
  return description;
}

py::object take_python_error(const std::string& what) {
  if (!last_error || what.find(last_error_message) == std::string::npos) return py::none();
  py::object cause = py::reinterpret_steal<py::object>(last_error);
  last_error = nullptr;
  last_error_message.clear();
  return cause;
}

}  // namespace quac::python
