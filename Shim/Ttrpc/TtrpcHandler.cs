using Google.Protobuf;

namespace WasmKata.Shim.Ttrpc;

/// <summary>Serves one method: gets the raw payload, returns the reply message (null for an empty reply).</summary>
internal delegate Task<IMessage?> TtrpcHandler(ReadOnlyMemory<byte> payload, TtrpcCallContext context);

/// <summary>Turns typed handlers into raw ones.</summary>
internal static class TtrpcHandlers
{
    /// <summary>Decodes the payload as <typeparamref name="TRequest"/>; an undecodable payload is Internal, as ttrpc answers it.</summary>
    public static TtrpcHandler Typed<TRequest, TResponse>(Func<TRequest, TtrpcCallContext, Task<TResponse>> handler)
        where TRequest : IMessage<TRequest>, new()
        where TResponse : IMessage
    {
        ArgumentNullException.ThrowIfNull(handler);
        return async (payload, context) =>
        {
            TRequest request;
            try
            {
                request = Parser<TRequest>.Instance.ParseFrom(payload.Span);
            }
            catch (InvalidProtocolBufferException ex)
            {
                throw new TtrpcException(StatusCode.Internal, "ttrpc: error unmarshalling payload: " + ex.Message);
            }

            return await handler(request, context).ConfigureAwait(false);
        };
    }

    private static class Parser<T>
        where T : IMessage<T>, new()
    {
        public static readonly MessageParser<T> Instance = new(() => new T());
    }
}
