// Conversions between NumPy arrays / Python objects and quac Tensors, and the error that a failing Python callback
// becomes. Arrays cross without copies when their layout allows (C-contiguous, a dtype quac has): the Tensor keeps
// the array alive, and an array made from a Tensor keeps the Tensor's storage alive.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "quac/tensor.h"

namespace quac::python {

namespace py = pybind11;

// A null array handle (a default-constructed py::array is an empty array, not "no array").
inline py::array null_array() { return py::reinterpret_steal<py::array>(py::handle()); }

// NumPy dtype for a quac type; throws kUnsupported for types NumPy has no equivalent of (bfloat16, strings).
py::dtype numpy_dtype(DataType type);
// quac type for a NumPy dtype, kUndefined when quac has none.
DataType quac_dtype(const py::dtype& dtype);

// `value` as a NumPy array (np.asarray); throws kInvalidArgument naming `what` when it has no array form.
py::array as_array(const py::handle& value, const std::string& what);

// Wraps `array` without copying when it is C-contiguous and of a type quac has; otherwise copies it into a
// C-contiguous array first. `what` names the value in errors ("UserDataLoader.__getitem__(3) data").
Tensor tensor_from_array(const py::array& array, const std::string& what);
// A NumPy view of `tensor` sharing its storage (no copy). Read-only unless `writeable`.
py::array array_from_tensor(const Tensor& tensor, bool writeable = false);

// Annotations keep the Python object the DataLoader returned (an int, a dict, an array...): the Tensor carries it in
// its storage owner, so a Python metric receives exactly the object its DataLoader made, while built-in C++ metrics
// see the numeric value (when it has one).
Tensor tensor_from_annotation(const py::handle& annotation);
// The original Python object of an annotation made by tensor_from_annotation; otherwise the tensor as a NumPy value
// (a Python scalar for a rank-0 tensor), or None for an undefined tensor.
py::object annotation_to_python(const Tensor& annotation);

// The message for a Python exception raised by `owner.method` (the pending error in `e`):
// "MyMetric.update raised ValueError: bad shape (my_metric.py:12)". Remembers the exception for take_python_error.
std::string describe_python_error(const std::string& owner, const std::string& method, py::error_already_set& e);

// The Python exception behind the last describe_python_error, if `what` (the message of the quac::Error being
// translated, possibly with context added around it) contains that description; None otherwise. Taking it forgets
// it. The translated quac.Error gets it as __cause__, so the user's traceback is not lost.
py::object take_python_error(const std::string& what);

// "MyMetric" for an instance of MyMetric.
std::string class_name(const py::handle& object);
// "int", "NoneType", "tuple of 4"...
std::string type_name(const py::handle& object);

}  // namespace quac::python
