namespace WasmKata.Specs.Engine;

/// <summary>The test guests, as WAT. Each is a WASI command; argv[1..] steer it where it needs input.</summary>
internal static class GuestWat
{
    // Memory map: 0-7 iovec, 8 nwritten/nread, 12 opened fd, 16-31 sizes, 32 clock value, 192 nevents,
    // 256-351 subscriptions, 384-447 events, 1024 strings, 4096-8191 I/O buffer, 65536 argv, 81920 environ,
    // 131072-135167 flood block.
    private const string Prelude = """
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
          (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "path_open"
            (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
          (memory (export "memory") 3)

          (func $write_all (param $fd i32) (param $ptr i32) (param $len i32) (result i32)
            (local $err i32)
            (block $done
              (loop $more
                (br_if $done (i32.eqz (local.get $len)))
                (i32.store (i32.const 0) (local.get $ptr))
                (i32.store (i32.const 4) (local.get $len))
                (local.set $err (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
                (br_if $done (local.get $err))
                (local.set $ptr (i32.add (local.get $ptr) (i32.load (i32.const 8))))
                (local.set $len (i32.sub (local.get $len) (i32.load (i32.const 8))))
                (br $more)))
            (local.get $err))

          (func $print (param $fd i32) (param $ptr i32) (param $len i32)
            (drop (call $write_all (local.get $fd) (local.get $ptr) (local.get $len))))

          (func $strlen (param $p i32) (result i32)
            (local $n i32)
            (block $done
              (loop $l
                (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
                (local.set $n (i32.add (local.get $n) (i32.const 1)))
                (br $l)))
            (local.get $n))

          (func $args_init
            (drop (call $args_sizes_get (i32.const 16) (i32.const 20)))
            (drop (call $args_get (i32.const 65536) (i32.const 66560))))

          (func $arg (param $i i32) (result i32)
            (i32.load (i32.add (i32.const 65536) (i32.shl (local.get $i) (i32.const 2)))))

          (func $arg_num (param $i i32) (result i64)
            (local $p i32) (local $c i32) (local $v i64)
            (local.set $p (call $arg (local.get $i)))
            (block $done
              (loop $l
                (local.set $c (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)))
                (br_if $done (i32.gt_u (local.get $c) (i32.const 9)))
                (local.set $v (i64.add (i64.mul (local.get $v) (i64.const 10)) (i64.extend_i32_u (local.get $c))))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $l)))
            (local.get $v))
        """;

    /// <summary>Prints "hello, world\n" to stdout and returns.</summary>
    public static readonly string Hello = Guest("""
        (data (i32.const 1024) "hello, world\n")
        (func (export "_start") (call $print (i32.const 1) (i32.const 1024) (i32.const 13)))
        """);

    /// <summary>Prints argv then "--" then environ, one entry per line.</summary>
    public static readonly string Echo = Guest("""
        (data (i32.const 1024) "--\n")
        (func $lines (param $p i32) (param $n i32)
          (local $i i32)
          (block $done
            (loop $l
              (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
              (if (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $i))))
                (then (i32.store8 (i32.add (local.get $p) (local.get $i)) (i32.const 10))))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br $l))))
        (func (export "_start")
          (call $args_init)
          (drop (call $environ_sizes_get (i32.const 24) (i32.const 28)))
          (drop (call $environ_get (i32.const 81920) (i32.const 82944)))
          (call $lines (i32.const 66560) (i32.load (i32.const 20)))
          (call $print (i32.const 1) (i32.const 66560) (i32.load (i32.const 20)))
          (call $print (i32.const 1) (i32.const 1024) (i32.const 3))
          (call $lines (i32.const 82944) (i32.load (i32.const 28)))
          (call $print (i32.const 1) (i32.const 82944) (i32.load (i32.const 28))))
        """);

    /// <summary>Calls <c>proc_exit(argv[1])</c>.</summary>
    public static readonly string Exit = Guest("""
        (func (export "_start")
          (call $args_init)
          (call $proc_exit (i32.wrap_i64 (call $arg_num (i32.const 1))))
          unreachable)
        """);

    /// <summary>Returns from <c>_start</c> at once.</summary>
    public static readonly string Return = Guest("""(func (export "_start"))""");

    /// <summary>Executes <c>unreachable</c>.</summary>
    public static readonly string Trap = Guest("""(func (export "_start") unreachable)""");

    /// <summary>Imports <c>env.foo</c>, which nothing defines.</summary>
    public const string UnknownImport = """
        (module
          (import "env" "foo" (func $foo))
          (func (export "_start") (call $foo)))
        """;

    /// <summary>A reactor-style module without <c>_start</c>.</summary>
    public const string NoStart = """(module (memory (export "memory") 1) (func (export "_initialize")))""";

    /// <summary>Opens argv[1] relative to preopen fd argv[2], prints its first 4 KiB; exits with the errno on failure.</summary>
    public static readonly string ReadFile = Guest("""
        (func (export "_start")
          (local $err i32) (local $p i32)
          (call $args_init)
          (local.set $p (call $arg (i32.const 1)))
          (local.set $err (call $path_open
            (i32.wrap_i64 (call $arg_num (i32.const 2))) (i32.const 0) (local.get $p) (call $strlen (local.get $p))
            (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 12)))
          (if (local.get $err) (then (call $proc_exit (local.get $err))))
          (i32.store (i32.const 0) (i32.const 4096))
          (i32.store (i32.const 4) (i32.const 4096))
          (local.set $err (call $fd_read (i32.load (i32.const 12)) (i32.const 0) (i32.const 1) (i32.const 8)))
          (if (local.get $err) (then (call $proc_exit (i32.add (i32.const 100) (local.get $err)))))
          (call $print (i32.const 1) (i32.const 4096) (i32.load (i32.const 8))))
        """);

    /// <summary>Creates argv[1] under preopen fd 3 and writes "written\n" into it; exits with the errno on failure.</summary>
    public static readonly string WriteFile = Guest("""
        (data (i32.const 1024) "written\n")
        (func (export "_start")
          (local $err i32) (local $p i32)
          (call $args_init)
          (local.set $p (call $arg (i32.const 1)))
          (local.set $err (call $path_open
            (i32.const 3) (i32.const 0) (local.get $p) (call $strlen (local.get $p))
            (i32.const 9) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 12)))
          (if (local.get $err) (then (call $proc_exit (local.get $err))))
          (call $proc_exit (call $write_all (i32.load (i32.const 12)) (i32.const 1024) (i32.const 8))))
        """);

    /// <summary>
    /// Closes stderr, opens argv[1] for writing (fd 2 is free now), writes "written\n" to it and "after close\n" to fd
    /// 2; exits with the opened fd (or 100 + errno when the open failed).
    /// </summary>
    public static readonly string CloseStderrThenWriteFile = Guest("""
        (data (i32.const 1024) "written\n")
        (data (i32.const 1040) "after close\n")
        (func (export "_start")
          (local $err i32) (local $p i32)
          (call $args_init)
          (if (call $fd_close (i32.const 2)) (then (call $proc_exit (i32.const 99))))
          (local.set $p (call $arg (i32.const 1)))
          (local.set $err (call $path_open
            (i32.const 3) (i32.const 0) (local.get $p) (call $strlen (local.get $p))
            (i32.const 9) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 12)))
          (if (local.get $err) (then (call $proc_exit (i32.add (i32.const 100) (local.get $err)))))
          (drop (call $write_all (i32.load (i32.const 12)) (i32.const 1024) (i32.const 8)))
          (drop (call $write_all (i32.const 2) (i32.const 1040) (i32.const 12)))
          (call $proc_exit (i32.load (i32.const 12))))
        """);

    /// <summary>Prints "spinning\n", then loops forever.</summary>
    public static readonly string Spin = Guest("""
        (data (i32.const 1024) "spinning\n")
        (func (export "_start")
          (call $print (i32.const 1) (i32.const 1024) (i32.const 9))
          (loop $forever (br $forever)))
        """);

    /// <summary>
    /// Prints "sleeping\n", then one <c>poll_oneoff</c> of argv[2] ms: argv[1] 0 relative monotonic, 1 absolute
    /// realtime, 2 absolute monotonic, 3 the clock plus an fd_read on stdin. Exits with nevents * 10 + the first
    /// event's type (99 when its userdata is wrong, 100 + errno when the call fails).
    /// </summary>
    public static readonly string Sleep = Guest("""
        (data (i32.const 1024) "sleeping\n")
        (func (export "_start")
          (local $mode i32) (local $err i32)
          (call $args_init)
          (local.set $mode (i32.wrap_i64 (call $arg_num (i32.const 1))))
          (i64.store (i32.const 256) (i64.const 7))
          (i32.store8 (i32.const 264) (i32.const 0))
          (i32.store (i32.const 272) (i32.const 1))
          (i64.store (i32.const 280) (i64.mul (call $arg_num (i32.const 2)) (i64.const 1000000)))
          (i64.store (i32.const 288) (i64.const 0))
          (i32.store16 (i32.const 296) (i32.const 0))
          (if (i32.eq (local.get $mode) (i32.const 1))
            (then
              (i32.store (i32.const 272) (i32.const 0))
              (drop (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 32)))
              (i64.store (i32.const 280) (i64.add (i64.load (i32.const 32)) (i64.load (i32.const 280))))
              (i32.store16 (i32.const 296) (i32.const 1))))
          (if (i32.eq (local.get $mode) (i32.const 2))
            (then
              (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 32)))
              (i64.store (i32.const 280) (i64.add (i64.load (i32.const 32)) (i64.load (i32.const 280))))
              (i32.store16 (i32.const 296) (i32.const 1))))
          (i64.store (i32.const 304) (i64.const 8))
          (i32.store8 (i32.const 312) (i32.const 1))
          (i32.store (i32.const 320) (i32.const 0))
          (call $print (i32.const 1) (i32.const 1024) (i32.const 9))
          (local.set $err (call $poll_oneoff (i32.const 256) (i32.const 384)
            (select (i32.const 2) (i32.const 1) (i32.eq (local.get $mode) (i32.const 3))) (i32.const 192)))
          (if (local.get $err) (then (call $proc_exit (i32.add (i32.const 100) (local.get $err)))))
          (if (i64.ne (i64.load (i32.const 384))
                      (select (i64.const 8) (i64.const 7) (i32.eq (local.get $mode) (i32.const 3))))
            (then (call $proc_exit (i32.const 99))))
          (call $proc_exit (i32.add (i32.mul (i32.load (i32.const 192)) (i32.const 10)) (i32.load8_u (i32.const 394)))))
        """);

    /// <summary>Prints "reading\n" to stderr, copies stdin to stdout until EOF, then exits 3.</summary>
    public static readonly string Cat = Guest("""
        (data (i32.const 1024) "reading\n")
        (func (export "_start")
          (local $err i32)
          (call $print (i32.const 2) (i32.const 1024) (i32.const 8))
          (block $eof
            (loop $l
              (i32.store (i32.const 0) (i32.const 4096))
              (i32.store (i32.const 4) (i32.const 4096))
              (local.set $err (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
              (if (local.get $err) (then (call $proc_exit (i32.add (i32.const 100) (local.get $err)))))
              (br_if $eof (i32.eqz (i32.load (i32.const 8))))
              (call $print (i32.const 1) (i32.const 4096) (i32.load (i32.const 8)))
              (br $l)))
          (call $proc_exit (i32.const 3)))
        """);

    /// <summary>Grows memory by argv[1] pages; exits 42 when <c>memory.grow</c> returned -1, else returns.</summary>
    public static readonly string Grow = Guest("""
        (func (export "_start")
          (call $args_init)
          (if (i32.eq (memory.grow (i32.wrap_i64 (call $arg_num (i32.const 1)))) (i32.const -1))
            (then (call $proc_exit (i32.const 42)))))
        """);

    /// <summary>
    /// Prints "flooding\n" to stderr, then writes argv[1] blocks of 4 KiB to stdout: bytes j &amp; 0xFF with the
    /// block number (little-endian i32) in the first four. Exits 5 if a write fails.
    /// </summary>
    public static readonly string Flood = Guest("""
        (data (i32.const 1024) "flooding\n")
        (func (export "_start")
          (local $i i32) (local $n i32) (local $j i32)
          (call $args_init)
          (local.set $n (i32.wrap_i64 (call $arg_num (i32.const 1))))
          (call $print (i32.const 2) (i32.const 1024) (i32.const 9))
          (block $filled
            (loop $fill
              (br_if $filled (i32.ge_u (local.get $j) (i32.const 4096)))
              (i32.store8 (i32.add (i32.const 131072) (local.get $j)) (local.get $j))
              (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (br $fill)))
          (block $done
            (loop $more
              (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
              (i32.store (i32.const 131072) (local.get $i))
              (if (call $write_all (i32.const 1) (i32.const 131072) (i32.const 4096))
                (then (call $proc_exit (i32.const 5))))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br $more))))
        """);

    /// <summary>Prints "one\n" then "two\n" to stdout as two writes.</summary>
    public static readonly string TwoLines = Guest("""
        (data (i32.const 1024) "one\ntwo\n")
        (func (export "_start")
          (call $print (i32.const 1) (i32.const 1024) (i32.const 4))
          (call $print (i32.const 1) (i32.const 1028) (i32.const 4)))
        """);

    /// <summary>Prints "starting\n" from its start function, then spins there, inside instantiation.</summary>
    public static readonly string SpinInStart = Guest("""
        (data (i32.const 1024) "starting\n")
        (func $init
          (call $print (i32.const 1) (i32.const 1024) (i32.const 9))
          (loop $forever (br $forever)))
        (start $init)
        (func (export "_start"))
        """);

    /// <summary>The memory the guests start with: 3 pages.</summary>
    public const long InitialMemoryBytes = 3 * 65536;

    private static string Guest(string body) => $"(module\n{Prelude}\n{body})";
}
