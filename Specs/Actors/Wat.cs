namespace WasmKata.Specs.Actors;

/// <summary>Tiny guests for actor specs, as WebAssembly text.</summary>
internal static class Wat
{
    private const string Imports = """
        (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
        (memory (export "memory") 1)
        (func $print (param $ptr i32) (param $len i32)
          (i32.store (i32.const 0) (local.get $ptr))
          (i32.store (i32.const 4) (local.get $len))
          (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
        """;

    /// <summary>Prints <paramref name="text"/> (ASCII) and exits with <paramref name="code"/>.</summary>
    public static string PrintAndExit(string text, int code) => $$"""
        (module {{Imports}}
          (data (i32.const 256) "{{Escape(text)}}")
          (func (export "_start")
            (call $print (i32.const 256) (i32.const {{text.Length}}))
            (call $exit (i32.const {{code}}))))
        """;

    /// <summary>Prints "spinning" and loops forever.</summary>
    public static readonly string Spin = $$"""
        (module {{Imports}}
          (data (i32.const 256) "spinning\n")
          (func (export "_start")
            (call $print (i32.const 256) (i32.const 9))
            (loop $l (br $l))))
        """;

    /// <summary>Prints "sleeping" and sleeps an hour in poll_oneoff.</summary>
    public static readonly string Sleep = $$"""
        (module {{Imports}}
          (data (i32.const 256) "sleeping\n")
          (func (export "_start")
            (call $print (i32.const 256) (i32.const 9))
            (i32.store (i32.const 80) (i32.const 1))
            (i64.store (i32.const 88) (i64.const 3600000000000))
            (drop (call $poll (i32.const 64) (i32.const 128) (i32.const 1) (i32.const 200)))))
        """;

    /// <summary>Grows its memory a page at a time towards 64 pages, retrying refused grows, spinning all along.</summary>
    public static readonly string GrowForever = """
        (module (memory (export "memory") 1)
          (func (export "_start")
            (loop $l
              (if (i32.lt_u (memory.size) (i32.const 64)) (then (drop (memory.grow (i32.const 1)))))
              (br $l))))
        """;

    /// <summary>Copies stdin to stdout until EOF.</summary>
    public static readonly string Cat = $$"""
        (module {{Imports}}
          (func (export "_start") (local $n i32)
            (loop $l
              (i32.store (i32.const 16) (i32.const 1024))
              (i32.store (i32.const 20) (i32.const 4096))
              (if (call $fd_read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 24)) (then (return)))
              (local.set $n (i32.load (i32.const 24)))
              (if (i32.eqz (local.get $n)) (then (return)))
              (call $print (i32.const 1024) (local.get $n))
              (br $l))))
        """;

    /// <summary>Executes <c>unreachable</c>.</summary>
    public static readonly string Trap = """(module (memory (export "memory") 1) (func (export "_start") unreachable))""";

    private static string Escape(string text) => text.Replace("\\", "\\\\").Replace("\n", "\\n").Replace("\"", "\\\"");
}
