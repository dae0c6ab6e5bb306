package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/jumpkv/jumpkv/examples/internal/readings"
)

// kind describes a kind of sensor: the typical level of its rooms, how
// far a room's level may sit from it, and how the value moves. A value
// drifts around its room's level as an Ornstein-Uhlenbeck process (pulled
// back by theta, pushed by sigma each step) and is read with noise.
type kind struct {
	name, unit   string
	base, spread float64 // rooms sit at base ± spread
	theta, sigma float64 // drift: pull back per step, random push per step
	noise        float64 // reading noise (standard deviation)
	min, max     float64 // physical bounds
	decimals     int
}

var kinds = []kind{
	{name: "temperature", unit: "°C", base: 21, spread: 3, theta: 0.05, sigma: 0.08, noise: 0.05, min: -40, max: 85, decimals: 2},
	{name: "humidity", unit: "%", base: 45, spread: 10, theta: 0.03, sigma: 0.3, noise: 0.2, min: 0, max: 100, decimals: 1},
	{name: "co2", unit: "ppm", base: 650, spread: 200, theta: 0.02, sigma: 8, noise: 3, min: 380, max: 5000, decimals: 0},
	{name: "pressure", unit: "hPa", base: 1013, spread: 4, theta: 0.01, sigma: 0.1, noise: 0.05, min: 870, max: 1085, decimals: 1},
	{name: "light", unit: "lx", base: 300, spread: 150, theta: 0.05, sigma: 10, noise: 5, min: 0, max: 100000, decimals: 0},
}

var rooms = []string{"kitchen", "lab", "office", "hall", "server-room", "attic", "cellar", "garage"}

// sensor is one simulated sensor. Not safe for concurrent use: each is
// owned by one goroutine.
type sensor struct {
	readings.Sensor
	kind
	level float64 // the room's level this sensor's value is pulled toward
	x     float64 // the drifting true value
	rng   *rand.Rand
}

// layout places n sensors on sites sites: sensor i goes to site i%sites,
// to a room in turn, with kinds in turn; each gets its own random stream
// from seed, so a run is reproducible.
func layout(n, sites int, seed uint64) []*sensor {
	out := make([]*sensor, 0, n)
	count := map[string]int{}
	for i := range n {
		site := fmt.Sprintf("site-%c", 'a'+i%sites)
		room := rooms[(i/sites)%len(rooms)]
		k := kinds[i%len(kinds)]
		count[site+"/"+room+"/"+k.name]++
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		level := k.base + k.spread*(2*rng.Float64()-1)
		out = append(out, &sensor{
			Sensor: readings.Sensor{Site: site, Room: room, Name: fmt.Sprintf("%s-%d", k.name, count[site+"/"+room+"/"+k.name])},
			kind:   k, level: level, x: level, rng: rng,
		})
	}
	return out
}

// next returns the sensor's next reading, taken at at.
func (s *sensor) next(at time.Time) readings.Reading {
	s.x += s.theta*(s.level-s.x) + s.sigma*s.rng.NormFloat64()
	v := s.x + s.noise*s.rng.NormFloat64()
	v = math.Min(math.Max(v, s.min), s.max)
	p := math.Pow(10, float64(s.decimals))
	v = math.Round(v*p) / p
	return readings.Reading{Site: s.Site, Room: s.Room, Sensor: s.Name, Kind: s.name, Value: v, Unit: s.unit, At: at}
}
