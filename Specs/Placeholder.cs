namespace WasmKata.Specs; public class Placeholder { [Xunit.Fact] public void Works() => Xunit.Assert.True(1 + 1 == 2); }
