package dtmf

import (
	"fmt"
	"strings"
	"testing"
)

func TestPressFormatsNoKey(t *testing.T) {
	p := Press{Key: '7', Source: SourceSIPInfo, Number: 1}
	for _, s := range []string{fmt.Sprint(p), fmt.Sprintf("%v %+v %s", p, p, p.Key)} {
		if strings.Contains(s, "7") {
			t.Fatalf("%q shows the key", s)
		}
	}
}
