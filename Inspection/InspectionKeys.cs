using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Akka.Remote.Transport.DotNetty;

namespace WasmKata.Inspection;

/// <summary>
/// The host's inspection identity: one self-signed ECDSA certificate whose private key lives only in the root-only
/// directory. Every shim and the CLI present it and accept only it (mutual TLS with a pinned certificate), so a
/// process that cannot read the directory cannot complete a connection; the request tokens derive from the same key.
/// Shared with the CLI as source.
/// </summary>
internal sealed class InspectionKeys : IDisposable
{
    private readonly byte[] _tokenKey;
    private readonly string _pin;

    private InspectionKeys(X509Certificate2 certificate)
    {
        Certificate = certificate;
        _pin = certificate.GetCertHashString(HashAlgorithmName.SHA256);
        using var key = certificate.GetECDsaPrivateKey()
            ?? throw new CryptographicException("the inspection certificate has no ECDSA private key");
        var secret = key.ExportParameters(includePrivateParameters: true).D!;
        _tokenKey = SHA256.HashData([.. Encoding.ASCII.GetBytes("wasmkata-inspect-token-v1:"), .. secret]);
        CryptographicOperations.ZeroMemory(secret);
    }

    /// <summary>The certificate with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>A new identity as PKCS#12 bytes: a P-256 key and a self-signed certificate valid for a century.</summary>
    public static byte[] CreatePfx()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=wasmkata-inspect", key, HashAlgorithmName.SHA256);
        var now = DateTimeOffset.UtcNow;
        using var certificate = request.CreateSelfSigned(now.AddDays(-1), now.AddYears(100));
        return certificate.Export(X509ContentType.Pkcs12);
    }

    /// <summary>Loads an identity written by <see cref="CreatePfx"/>.</summary>
    public static InspectionKeys Load(byte[] pfx) => new(X509CertificateLoader.LoadPkcs12(pfx, null));

    /// <summary>The token a client presents to the shim with <paramref name="pid"/> listening on <paramref name="port"/>.</summary>
    public string TokenFor(int pid, int port) => Convert.ToHexStringLower(
        HMACSHA256.HashData(_tokenKey, Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{pid}:{port}"))));

    /// <summary>Whether <paramref name="token"/> is the one for this shim (constant time).</summary>
    public bool Accepts(string token, int pid, int port) => CryptographicOperations.FixedTimeEquals(
        Encoding.ASCII.GetBytes(token), Encoding.ASCII.GetBytes(TokenFor(pid, port)));

    /// <summary>Whether a TLS peer presented this very certificate.</summary>
    public bool IsPeer(X509Certificate2? certificate) =>
        certificate is not null && certificate.GetCertHashString(HashAlgorithmName.SHA256) == _pin;

    /// <summary>Mutual TLS for Akka.Remote: present the certificate, require the peer's, accept only this one.</summary>
    public DotNettySslSetup SslSetup() => new(
        Certificate, suppressValidation: false, requireMutualAuthentication: true, validateCertificateHostname: false,
        (certificate, _, _, _, _) => IsPeer(certificate));

    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(_tokenKey);
        Certificate.Dispose();
    }
}
