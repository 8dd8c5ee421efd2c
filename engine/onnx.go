//go:build onnx

package engine

// Built with -tags onnx, gotune can run on ONNX Runtime (GoMLX's compute-onnx
// backend): --backend onnx, with ONNXRUNTIME_SHARED_LIBRARY_PATH naming
// libonnxruntime.so (the npm package onnxruntime-node ships it). See
// docs/engine.md for what it measured here.
import _ "github.com/gomlx/compute-onnx" // registers the "onnx" backend
