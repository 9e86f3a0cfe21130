# LFLoad: a closed-loop FastCGI load from one process, for the tests that
# measure who waits for whom (fairness, upgrades under load).
#
# Each client has one request in flight at a time and sends the next as
# soon as the last is answered: a "kept" client on one connection with
# FCGI_KEEP_CONN (as nginx's keepalive does), a "fresh" client on a new
# connection each time. One process multiplexes them all with select(),
# so forty clients cost one Perl process on a small machine, and each
# latency is taken from the same clock: a kept request from its write, a
# fresh one from its connect. A kept client's first request is on a new
# connection and counts as a fresh one.
package LFLoad;

use strict;
use warnings;
use IO::Select;
use Time::HiRes qw(time);
use LFTest;

# The P-th percentile (0..100) of a list of numbers; 0 for an empty list.
sub percentile {
    my ($p, @v) = @_;
    return 0 unless @v;
    @v = sort { $a <=> $b } @v;
    my $i = int($p / 100 * @v + 0.999999) - 1;
    return $v[$i < 0 ? 0 : $i];
}

# Run the load. Options:
#   connect   => sub returning a new connected socket (LFTest's connect)
#   params    => sub ($client, $n) returning [\%params, $stdin, $expect]:
#                the request, and a string its answer's body must hold
#   kept, fresh  clients of each kind
#   seconds   how long requests are sent; those in flight then get
#   drain     more seconds to be answered (default 20)
#   max       requests at most, all clients together (default 100000)
#   enough    sub ($result so far) true once there are enough samples:
#             sending stops then, before SECONDS
#   pause     sub ($client) returning seconds a client waits between its
#             requests (default none: closed loop)
# Returns { kept => [s, ...], fresh => [s, ...], bad => n, unanswered => n,
#           errors => [first few reasons] }. A request not answered within
# the drain counts as unanswered, with its wait so far as its latency.
sub run {
    my (%o) = @_;
    my $drain = $o{drain} // 20;
    my $max = $o{max} // 100000;
    my $start = time;
    my $end = $start + $o{seconds};
    my %out = (kept => [], fresh => [], bad => 0, unanswered => 0, errors => [], sent => 0);
    my @clients = ((map { { kind => 'kept' } } 1 .. $o{kept} // 0),
                   (map { { kind => 'fresh' } } 1 .. $o{fresh} // 0));
    $clients[$_]{id} = $_ + 1 for 0 .. $#clients;
    my $sel = IO::Select->new;
    my %by_fd;
    my $fail = sub {
        my ($c, $why) = @_;
        $out{bad}++;
        push @{ $out{errors} }, "client $c->{id} ($c->{kind}): $why" if @{ $out{errors} } < 5;
        if ($c->{sock}) {
            $sel->remove($c->{sock});
            delete $by_fd{ fileno $c->{sock} };
            close $c->{sock};
            $c->{sock} = undef;
        }
        $c->{busy} = 0;
    };
    my $send = sub {
        my ($c) = @_;
        my $t0 = time;
        $c->{n}++;
        my ($params, $stdin, $expect) = @{ $o{params}->($c->{id}, $c->{n}) };
        my $new = !$c->{sock};
        if ($new) {
            $c->{sock} = $o{connect}->() or return $fail->($c, "connect: $!");
            $sel->add($c->{sock});
            $by_fd{ fileno $c->{sock} } = $c;
        }
        @$c{qw(busy t0 buf stdout expect first)} = (1, $t0, '', '', $expect, $new);
        $out{sent}++;
        LFTest::write_all($c->{sock}, LFTest::encode_request($params, $stdin, keep_conn => $c->{kind} eq 'kept'))
            or $fail->($c, "write: $!");
    };
    my $answered = sub {
        my ($c) = @_;
        push @{ $out{ $c->{first} ? 'fresh' : 'kept' } }, time - $c->{t0};
        $fail->($c, "answer does not hold '$c->{expect}': " . substr($c->{stdout}, 0, 200))
            if index($c->{stdout}, $c->{expect}) < 0;
        $c->{busy} = 0;
        if ($c->{sock} && $c->{kind} eq 'fresh') {
            $sel->remove($c->{sock});
            delete $by_fd{ fileno $c->{sock} };
            close $c->{sock};
            $c->{sock} = undef;
        }
        $c->{next} = time + ($o{pause} ? $o{pause}->($c->{id}) : 0);
    };
    while (1) {
        my $now = time;
        my $busy = 0;
        $end = $now if $now < $end && $o{enough} && $o{enough}->(\%out);
        for my $c (@clients) {
            $send->($c) if !$c->{busy} && $now < $end && $out{sent} < $max && $now >= ($c->{next} // 0);
            $busy++ if $c->{busy};
        }
        last if !$busy && ($now >= $end || $out{sent} >= $max);
        if ($now > $end + $drain) {
            for my $c (grep { $_->{busy} } @clients) {
                push @{ $out{ $c->{first} ? 'fresh' : 'kept' } }, $now - $c->{t0};
                $out{unanswered}++;
                $fail->($c, 'no answer within the drain');
                $out{bad}--;
            }
            last;
        }
        for my $s ($sel->can_read(0.02)) {
            my $c = $by_fd{ fileno $s } or next;
            my $n = sysread($s, $c->{buf}, 65536, length $c->{buf});
            if (!$n) {
                $fail->($c, $c->{busy} ? 'closed before the answer' : 'closed while idle') if $c->{busy} || $c->{kind} eq 'kept';
                next;
            }
            while ($c->{busy} && length $c->{buf} >= 8) {
                my ($ver, $type, $id, $clen, $plen) = unpack('CCnnC', $c->{buf});
                last if length $c->{buf} < 8 + $clen + $plen;
                my $content = substr($c->{buf}, 8, $clen);
                substr($c->{buf}, 0, 8 + $clen + $plen) = '';
                if ($type == 6) { $c->{stdout} .= $content }
                elsif ($type == 3) { $answered->($c) }
            }
        }
    }
    $_->{sock} && close $_->{sock} for @clients;
    $out{seconds} = time - $start;
    return \%out;
}

# One line for a test's diagnostics: counts and percentiles of a run.
sub summary {
    my ($r) = @_;
    my $line = '';
    for my $k (qw(kept fresh)) {
        my @v = @{ $r->{$k} };
        $line .= sprintf('%s: %d, p50 %.3f p99 %.3f max %.3f s; ', $k, scalar @v,
                         percentile(50, @v), percentile(99, @v), percentile(100, @v));
    }
    return $line . sprintf('%d bad, %d unanswered, in %.1f s', $r->{bad}, $r->{unanswered}, $r->{seconds});
}

1;
