;; A WASI 0.2 command component that ends through wasi:cli/exit's exit-with-code(42), which the preview-1 adapter
;; never calls (it turns proc_exit(n != 0) into exit(err)): the real code must reach ctr.
(component
  (import "wasi:cli/exit@0.2.12" (instance $exit
    (export "exit-with-code" (func (param "status-code" u8)))))
  (core func $exit_with_code (canon lower (func $exit "exit-with-code")))
  (core module $m
    (import "host" "exit-with-code" (func $exit_with_code (param i32)))
    (func (export "run") (result i32)
      (call $exit_with_code (i32.const 42))
      (i32.const 0)))
  (core instance $i (instantiate $m
    (with "host" (instance (export "exit-with-code" (func $exit_with_code))))))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $run_instance (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $run_instance)))
