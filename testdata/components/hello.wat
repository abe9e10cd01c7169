;; A WASI preview 1 command that writes one line to standard output.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; The iovec at 0: the text at 16, its length.
  (data (i32.const 0) "\10\00\00\00\2c\00\00\00")
  (data (i32.const 16) "hello from a verified WebAssembly component\n")
  (func (export "_start")
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
