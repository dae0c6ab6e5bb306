// Package readings is the data layout the sensor examples share: where a
// reading is stored and what it holds.
//
// A reading of sensor S in room R of site T taken at time t is the key
//
//	sensors/T/R/S/2006-01-02T15:04:05.000Z
//
// (t in UTC, fixed width, so that a sensor's readings list in time order),
// holding a Reading as JSON.
package readings

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Root is the prefix of every reading.
const Root = "sensors/"

// TimeLayout formats a reading's time in its key: fixed width, so that
// byte order is time order.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// Reading is one value a sensor reported.
type Reading struct {
	Site   string    `json:"site"`
	Room   string    `json:"room"`
	Sensor string    `json:"sensor"`
	Kind   string    `json:"kind"` // temperature, humidity, co2, pressure, light
	Value  float64   `json:"value"`
	Unit   string    `json:"unit"`
	At     time.Time `json:"at"`
}

// Sensor names one sensor by where it is.
type Sensor struct{ Site, Room, Name string }

// Path is the sensor's "site/room/name".
func (s Sensor) Path() string { return s.Site + "/" + s.Room + "/" + s.Name }

// Prefix is the key prefix of the sensor's readings (with a trailing /).
func (s Sensor) Prefix() string { return Root + s.Path() + "/" }

// ParseSensor reads "site/room/name".
func ParseSensor(path string) (Sensor, error) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return Sensor{}, fmt.Errorf("sensor %q: want site/room/sensor", path)
	}
	return Sensor{parts[0], parts[1], parts[2]}, nil
}

// Key is where r is stored.
func (r Reading) Key() string {
	return Sensor{r.Site, r.Room, r.Sensor}.Prefix() + r.At.UTC().Format(TimeLayout)
}

// ErrNotReading is a key outside the layout.
var ErrNotReading = errors.New("not a reading's key")

// ParseKey splits a reading's key into its sensor and time.
func ParseKey(key string) (Sensor, time.Time, error) {
	rest, ok := strings.CutPrefix(key, Root)
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 4 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return Sensor{}, time.Time{}, fmt.Errorf("%w: %q", ErrNotReading, key)
	}
	at, err := time.Parse(TimeLayout, parts[3])
	if err != nil {
		return Sensor{}, time.Time{}, fmt.Errorf("%w: %q: %v", ErrNotReading, key, err)
	}
	return Sensor{parts[0], parts[1], parts[2]}, at, nil
}

// Encode is r as stored.
func (r Reading) Encode() []byte {
	b, _ := json.Marshal(r) // a struct of strings, numbers and a time: cannot fail
	return b
}

// Decode reads a stored reading.
func Decode(data []byte) (Reading, error) {
	var r Reading
	if err := json.Unmarshal(data, &r); err != nil {
		return Reading{}, fmt.Errorf("a reading that is not JSON: %w", err)
	}
	return r, nil
}
