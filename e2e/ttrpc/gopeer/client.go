package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/ttrpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// result is one interop case: the status code the call ended with and what came back.
type result struct {
	Case    string `json:"case"`
	Code    int    `json:"code"`
	Message string `json:"message,omitempty"`
	Value   string `json:"value,omitempty"`
}

func dial(sock string) (*ttrpc.Client, error) {
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return nil, err
	}
	return ttrpc.NewClient(conn), nil
}

func codeOf(err error) (int, string) {
	if err == nil {
		return 0, ""
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return 4, err.Error()
	}
	if errors.Is(err, context.Canceled) {
		return 1, err.Error()
	}
	st, _ := status.FromError(err)
	var big *ttrpc.OversizedMessageErr
	if errors.As(err, &big) {
		st, _ = status.FromError(errors.Unwrap(err))
	}
	return int(st.Code()), st.Message()
}

func emit(r result) {
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
}

func runCases(sock string) error {
	c, err := dial(sock)
	if err != nil {
		return err
	}
	defer c.Close()
	bg := context.Background()

	unaryCase := func(name, method string, req, resp any, ctx context.Context, show func() string) {
		err := c.Call(ctx, service, method, req, resp)
		code, msg := codeOf(err)
		r := result{Case: name, Code: code, Message: msg}
		if err == nil && show != nil {
			r.Value = show()
		}
		emit(r)
	}

	var b wrapperspb.BytesValue
	unaryCase("echo", "Echo", wrapperspb.Bytes([]byte("abcde")), &b, bg, func() string { return string(b.Value) })
	unaryCase("fail", "Fail", &emptypb.Empty{}, &emptypb.Empty{}, bg, nil)
	unaryCase("status_not_found", "Status", wrapperspb.Int32(5), &emptypb.Empty{}, bg, nil)
	unaryCase("unknown_method", "Nope", &emptypb.Empty{}, &emptypb.Empty{}, bg, nil)
	func() {
		err := c.Call(bg, "no.such.Service", "Echo", &emptypb.Empty{}, &emptypb.Empty{})
		code, msg := codeOf(err)
		emit(result{Case: "unknown_service", Code: code, Message: msg})
	}()
	md := ttrpc.MD{}
	md.Set("X-One", "a", "b")
	md.Append("two", "c")
	var sv wrapperspb.StringValue
	unaryCase("metadata", "Meta", &emptypb.Empty{}, &sv, ttrpc.WithMetadata(bg, md), func() string { return sv.Value })
	func() {
		ctx, cancel := context.WithTimeout(bg, 100*time.Millisecond)
		defer cancel()
		unaryCase("deadline", "Sleep", wrapperspb.Int64(5000), &emptypb.Empty{}, ctx, nil)
	}()
	var big wrapperspb.BytesValue
	unaryCase("big_4mib", "Big", wrapperspb.Int32(4<<20-16), &big, bg, func() string { return fmt.Sprint(len(big.Value)) })
	unaryCase("too_large_response", "Big", wrapperspb.Int32(4<<20), &big, bg, nil)
	unaryCase("too_large_request", "Echo", wrapperspb.Bytes(make([]byte, 4<<20)), &b, bg, nil)
	// The connection must still work after the refused messages.
	unaryCase("echo_after", "Echo", wrapperspb.Bytes([]byte("again")), &b, bg, func() string { return string(b.Value) })

	// Server streaming.
	func() {
		s, err := c.NewStream(bg, &ttrpc.StreamDesc{StreamingServer: true}, service, "Count", wrapperspb.Int32(5))
		var got []string
		for err == nil {
			var v wrapperspb.Int32Value
			if err = s.RecvMsg(&v); err == nil {
				got = append(got, fmt.Sprint(v.Value))
			}
		}
		if errors.Is(err, io.EOF) {
			err = nil
		}
		code, msg := codeOf(err)
		emit(result{Case: "server_stream", Code: code, Message: msg, Value: strings.Join(got, ",")})
	}()
	// Client streaming.
	func() {
		s, err := c.NewStream(bg, &ttrpc.StreamDesc{StreamingClient: true}, service, "Sum", nil)
		for i := int32(1); err == nil && i <= 100; i++ {
			err = s.SendMsg(wrapperspb.Int32(i))
		}
		if err == nil {
			err = s.CloseSend()
		}
		var v wrapperspb.Int32Value
		if err == nil {
			err = s.RecvMsg(&v)
		}
		code, msg := codeOf(err)
		emit(result{Case: "client_stream", Code: code, Message: msg, Value: fmt.Sprint(v.Value)})
	}()
	// Bidirectional.
	func() {
		s, err := c.NewStream(bg, &ttrpc.StreamDesc{StreamingClient: true, StreamingServer: true}, service, "EchoStream", nil)
		var got []string
		for _, w := range []string{"a", "b", "", "c"} {
			if err != nil {
				break
			}
			if err = s.SendMsg(wrapperspb.Bytes([]byte(w))); err != nil {
				break
			}
			var v wrapperspb.BytesValue
			if err = s.RecvMsg(&v); err == nil {
				got = append(got, string(v.Value))
			}
		}
		if err == nil {
			err = s.CloseSend()
		}
		if err == nil {
			var v wrapperspb.BytesValue
			if err = s.RecvMsg(&v); errors.Is(err, io.EOF) {
				err = nil
			}
		}
		code, msg := codeOf(err)
		emit(result{Case: "bidi_stream", Code: code, Message: msg, Value: strings.Join(got, "|")})
	}()
	// Concurrency: 64 calls in flight on one connection.
	func() {
		var wg sync.WaitGroup
		var mu sync.Mutex
		bad := 0
		for i := 0; i < 64; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				var out wrapperspb.BytesValue
				want := fmt.Sprint(i)
				if err := c.Call(bg, service, "Echo", wrapperspb.Bytes([]byte(want)), &out); err != nil || string(out.Value) != want {
					mu.Lock()
					bad++
					mu.Unlock()
				}
			}(i)
		}
		wg.Wait()
		emit(result{Case: "concurrent", Value: fmt.Sprint(64 - bad)})
	}()
	return nil
}

// ---- bench ------------------------------------------------------------------------------------

type benchResult struct {
	RPS   float64 `json:"rps"`
	P50us float64 `json:"p50_us"`
	P99us float64 `json:"p99_us"`
	Calls int     `json:"calls"`
}

func bench(sock string, secs float64, warm, size, conc int) error {
	c, err := dial(sock)
	if err != nil {
		return err
	}
	defer c.Close()
	payload := wrapperspb.Bytes(make([]byte, size))
	ctx := context.Background()
	call := func() error {
		var out wrapperspb.BytesValue
		return c.Call(ctx, service, "Echo", payload, &out)
	}
	for i := 0; i < warm; i++ {
		if err := call(); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(time.Duration(secs * float64(time.Second)))
	lat := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	errs := make(chan error, conc)
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for time.Now().Before(deadline) {
				t := time.Now()
				if err := call(); err != nil {
					errs <- err
					return
				}
				lat[w] = append(lat[w], time.Since(t))
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		i := int(p * float64(len(all)-1))
		return float64(all[i].Nanoseconds()) / 1000
	}
	b, _ := json.Marshal(benchResult{RPS: float64(len(all)) / elapsed.Seconds(), P50us: pct(0.5), P99us: pct(0.99), Calls: len(all)})
	fmt.Fprintln(os.Stdout, string(b))
	return nil
}
