package web

import (
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

// newHTTPMetrics returns a middleware counting requests by route, method
// and status, with latency histograms by route and method. Routes are Gin's
// patterns (/v1/kv/*key), so labels stay few whatever the keys.
func newHTTPMetrics(reg *prometheus.Registry) gin.HandlerFunc {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jumpkv_http_requests_total",
		Help: "HTTP requests by route, method and status."}, []string{"route", "method", "status"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "jumpkv_http_request_seconds",
		Help:    "HTTP request latency by route and method (watches: until the upgrade).",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 13)}, []string{"route", "method"})
	reg.MustRegister(requests, latency)
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		requests.WithLabelValues(route, c.Request.Method, strconv.Itoa(c.Writer.Status())).Inc()
		latency.WithLabelValues(route, c.Request.Method).Observe(time.Since(start).Seconds())
	}
}
