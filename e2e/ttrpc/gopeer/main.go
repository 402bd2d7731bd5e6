// Command gopeer is the Go ttrpc peer for cocolet's ttrpc tests and benchmark, built from the
// real github.com/containerd/ttrpc module. It serves or calls the test service
// peers.echo.v1.Echo (see shared/ttrpc/testing/echo-service.ts for the method list).
//
//	gopeer -mode server -sock PATH            serve until killed; prints "READY" when listening
//	gopeer -mode client -sock PATH            run the interop cases against a server, one JSON line each
//	gopeer -mode bench -sock PATH -secs 3 -size 16 -conc 1
//	                                          unary Echo load; prints one JSON line with rps and latencies
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/ttrpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const service = "peers.echo.v1.Echo"

func main() {
	mode := flag.String("mode", "server", "server | client | bench")
	sock := flag.String("sock", "", "unix socket path")
	secs := flag.Float64("secs", 3, "bench: seconds of measurement")
	warm := flag.Int("warmup", 1000, "bench: warm-up calls")
	size := flag.Int("size", 16, "bench: payload bytes")
	conc := flag.Int("conc", 1, "bench: calls in flight")
	flag.Parse()
	if *sock == "" {
		fmt.Fprintln(os.Stderr, "gopeer: -sock is required")
		os.Exit(2)
	}
	var err error
	switch *mode {
	case "server":
		err = serve(*sock)
	case "client":
		err = runCases(*sock)
	case "bench":
		err = bench(*sock, *secs, *warm, *size, *conc)
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeer:", err)
		os.Exit(1)
	}
}

// ---- server -----------------------------------------------------------------------------------

func unary[T any, PT interface{ *T }](fn func(ctx context.Context, req PT) (any, error)) ttrpc.Method {
	return func(ctx context.Context, unmarshal func(any) error) (any, error) {
		req := PT(new(T))
		if err := unmarshal(req); err != nil {
			return nil, err
		}
		return fn(ctx, req)
	}
}

func formatMetadata(ctx context.Context) string {
	md, _ := ttrpc.GetMetadata(ctx)
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+strings.Join(md[k], ","))
	}
	return strings.Join(parts, ";")
}

func echoService() *ttrpc.ServiceDesc {
	return &ttrpc.ServiceDesc{
		Methods: map[string]ttrpc.Method{
			"Echo": unary(func(_ context.Context, req *wrapperspb.BytesValue) (any, error) { return req, nil }),
			"Fail": unary(func(_ context.Context, _ *emptypb.Empty) (any, error) { return nil, errors.New("deliberate failure") }),
			"Status": unary(func(_ context.Context, req *wrapperspb.Int32Value) (any, error) {
				return nil, status.Error(codes.Code(req.Value), "requested status")
			}),
			"Sleep": unary(func(ctx context.Context, req *wrapperspb.Int64Value) (any, error) {
				select {
				case <-time.After(time.Duration(req.Value) * time.Millisecond):
					return &emptypb.Empty{}, nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}),
			"Meta": unary(func(ctx context.Context, _ *emptypb.Empty) (any, error) {
				return wrapperspb.String(formatMetadata(ctx)), nil
			}),
			"Big": unary(func(_ context.Context, req *wrapperspb.Int32Value) (any, error) {
				if req.Value > 4<<20-16 {
					// Go ttrpc would drop the connection on an oversized response; answer instead.
					return nil, status.Errorf(codes.ResourceExhausted, "message length %d exceed maximum message size of %d", req.Value, 4<<20)
				}
				return wrapperspb.Bytes([]byte(strings.Repeat("x", int(req.Value)))), nil
			}),
		},
		Streams: map[string]ttrpc.Stream{
			"Count": {StreamingServer: true, Handler: func(_ context.Context, ss ttrpc.StreamServer) (any, error) {
				var req wrapperspb.Int32Value
				if err := ss.RecvMsg(&req); err != nil {
					return nil, err
				}
				for i := int32(0); i < req.Value; i++ {
					if err := ss.SendMsg(wrapperspb.Int32(i)); err != nil {
						return nil, err
					}
				}
				return nil, nil
			}},
			"Sum": {StreamingClient: true, Handler: func(_ context.Context, ss ttrpc.StreamServer) (any, error) {
				var total int32
				for {
					var v wrapperspb.Int32Value
					if err := ss.RecvMsg(&v); err != nil {
						if errors.Is(err, io.EOF) {
							return wrapperspb.Int32(total), nil
						}
						return nil, err
					}
					total += v.Value
				}
			}},
			"EchoStream": {StreamingClient: true, StreamingServer: true, Handler: func(_ context.Context, ss ttrpc.StreamServer) (any, error) {
				for {
					var v wrapperspb.BytesValue
					if err := ss.RecvMsg(&v); err != nil {
						if errors.Is(err, io.EOF) {
							return nil, nil
						}
						return nil, err
					}
					if err := ss.SendMsg(&v); err != nil {
						return nil, err
					}
				}
			}},
		},
	}
}

func serve(sock string) error {
	s, err := ttrpc.NewServer()
	if err != nil {
		return err
	}
	s.RegisterService(service, echoService())
	_ = os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = s.Shutdown(sctx)
		_ = s.Close()
	}()
	fmt.Println("READY")
	if err := s.Serve(ctx, l); err != nil && !errors.Is(err, ttrpc.ErrServerClosed) {
		return err
	}
	return nil
}
