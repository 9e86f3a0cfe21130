# A mixed load for a bounded time: good requests among endless loops,
# memory hogs, os.exit, aborted clients and garbage connections. Then the
# daemon must be alive, every good answer right, every worker there, RSS
# bounded once it settles, and nothing in the log but the expected.
# Run on the plain build and, when built, on the ASan and TSan builds.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time);
use LFTest qw(wait_for slurp);

my $seconds = $ENV{LF_LOAD_SECONDS} || 6;

sub rss { my ($pid) = @_; (slurp("/proc/$pid/status") =~ /^VmRSS:\s+(\d+)/m)[0] // 0 }

sub load_run {
    my ($label, %env) = @_;
    local @ENV{keys %env} = values %env;
    my $t = LFTest->new(conf => { workers => 4, timeout => 1, memory => 8 * 1024 * 1024, loglevel => 'info' });
    my $reports = $t->dir . '/san';
    local $ENV{TSAN_OPTIONS} = "halt_on_error=0 log_path=$reports suppressions=" . LFTest::top() . '/tests/tsan.supp';
    local $ENV{ASAN_OPTIONS} = "halt_on_error=0 log_path=$reports detect_leaks=1";
    local $ENV{UBSAN_OPTIONS} = "print_stacktrace=1 log_path=$reports";
    $t->script('good.lua', "n = 0\nfunction main(env, req) n = n + 1 req:puts('good ', env.QUERY_STRING) end\n");
    $t->script('loop.lua', "function main(env, req) while true do end end\n");
    $t->script('hog.lua', "function main(env, req) local t = {} for i = 1, 1e9 do t[i] = i .. 'xxxxxxxxxxxxxxxx' end end\n");
    $t->script('exit.lua', "function main(env, req) req:puts('bye') os.exit(3) end\n");
    $t->script('big.lua', "local s = string.rep('y', 256 * 1024)\nfunction main(env, req) for i = 1, 8 do req:puts(s) end end\n");
    $t->start;
    my $pid = $t->pid;
    $t->get('good.lua', QUERY_STRING => 'warm') for 1 .. 20;
    my $rss0 = rss($pid);
    my $dir = $t->dir;

    my $storm = sub {
        my %kinds = (good => 4, loop => 1, hog => 1, exit => 1, abort => 1, garbage => 1);
        my @who = map { my $k = $_; map { [$k, $_] } 1 .. $kinds{$k} } sort keys %kinds;
        my @results = LFTest::run_clients(scalar @who, $seconds + 60, sub {
            my ($kind, $n) = @{ $who[$_[0] - 1] };
            my ($count, $bad) = (0, 0);
            my $end = time + $seconds;
            while (time < $end && $count < 100000) {
                $count++;
                if ($kind eq 'good') {
                    my $q = "$n-$count";
                    my $r = $t->get('good.lua', QUERY_STRING => $q);
                    $bad++ unless $r->{status} == 200 && $r->{body} eq "good $q";
                } elsif ($kind eq 'abort') {
                    my $s = $t->connect or next;
                    LFTest::write_all($s, LFTest::encode_request({ SCRIPT_FILENAME => "$dir/www/big.lua",
                                                                  REQUEST_METHOD => 'GET' }, ''));
                    close $s;
                } elsif ($kind eq 'garbage') {
                    my $s = $t->connect or next;
                    syswrite($s, join('', map { chr(rand 256) } 1 .. 300));
                    close $s;
                } else {
                    my $r = $t->get("$kind.lua");
                    $bad++ unless $kind eq 'exit' ? $r->{body} eq 'bye' : $r->{status} == 500;
                }
            }
            return "$count $bad";
        });
        my (%count, %bad);
        for my $i (0 .. $#who) {
            my ($c, $b) = split ' ', $results[$i] // '0 1';
            $count{ $who[$i][0] } += $c;
            $bad{ $who[$i][0] } += $b;
        }
        return (\%count, \%bad);
    };
    my ($count, $bad) = $storm->();
    my %count = %$count;
    my %bad = %$bad;
    my $summary = join(', ', map { "$_ $count{$_}" } sort keys %count);
    ok(LFTest::alive($pid), "$label: the daemon is alive after $seconds s of $summary");
    is($bad{good}, 0, "$label: every one of $count{good} good requests was answered right");
    is($bad{loop} + $bad{hog} + $bad{exit}, 0, "$label: every loop and hog got a 500, every os.exit its page");

    # every worker is still there: four slow requests at once finish together
    $t->script('slow.lua', "function main(env, req) os.execute('sleep 0.3') req:puts('slow') end\n");
    my @socks = map { my $s = $t->connect; LFTest::write_all($s, LFTest::encode_request(
        { SCRIPT_FILENAME => "$dir/www/slow.lua", REQUEST_METHOD => 'GET' }, '')); $s } 1 .. 4;
    my $t0 = time;
    my $done = grep { LFTest::read_response($_)->{body} eq 'slow' } @socks;
    is($done, 4, "$label: all four workers answer");
    ok(time - $t0 < 1.2, sprintf("$label: at the same time (%.2f s for four 0.3 s requests)", time - $t0));

    # quiet: workers idle for 2 s give their big buffers back, and the
    # housekeeper hands freed memory to the system within a sweep;
    # sanitizer builds keep freed memory on purpose
    $t->get('good.lua', QUERY_STRING => 'cool') for 1 .. 20;
    # Settled RSS: glibc's per-thread arenas keep some freed memory, so it
    # does not return to the warm-up figure; what must hold is that a second
    # storm does not raise it (no leak) and that it stays bounded.
    my ($rss1, $rss2);
    SKIP: {
        skip "$label: RSS is not comparable under a sanitizer", 3 if %env;
        # settled: no new low for 1.5 s (idle workers shrink after 2 s,
        # the housekeeper trims within a sweep), at most 12 s
        my $settle = sub {
            my ($low, $since) = (1e12, time);
            wait_for(sub { my $r = rss($pid); ($low, $since) = ($r, time) if $r < $low - 64; time - $since > 1.5 }, 12);
            return rss($pid);
        };
        $rss1 = $settle->();
        my ($c2, $b2) = $storm->();
        $t->get('good.lua', QUERY_STRING => 'cool') for 1 .. 20;
        $rss2 = $settle->();
        # Whether the second figure may exceed the first (fragmentation or
        # a slow leak) is not settled yet; it is reported, and bounded.
        diag("$label: settled RSS: $rss0 KiB warm, $rss1 after one storm, $rss2 after two");
        ok($rss1 < $rss0 + 32768, "$label: settled RSS after one storm stays bounded ($rss1 KiB)");
        ok($rss2 < $rss0 + 32768, "$label: and after a second ($rss2 KiB)");
        is($b2->{good}, 0, "$label: the second storm's good requests were all right too");
    }
    my @unexpected = grep { !/timeout|memory limit|went away|started|running as root|stopping|stopped|\[notice\]|\[info\]/ }
                     grep { /\[(error|warn)\]/ } split /\n/, $t->log;
    is(scalar(@unexpected), 0, "$label: the log holds only the expected errors")
        or diag(join("\n", @unexpected[0 .. ($#unexpected < 9 ? $#unexpected : 9)]));
    is($t->stop, 0, "$label: stops cleanly");
    my $text = join('', map { slurp($_) } glob("$reports.*"));
    is($text, '', "$label: no sanitizer report") or diag(substr($text, 0, 6000));
    return ($summary, $rss0, $rss1);
}

load_run('plain build');
SKIP: {
    skip 'no ASan build (LUAFCGID_ASAN)', 11 unless $ENV{LUAFCGID_ASAN} && -x $ENV{LUAFCGID_ASAN};
    load_run('ASan build', LUAFCGID => $ENV{LUAFCGID_ASAN});
}
SKIP: {
    skip 'no TSan build (LUAFCGID_TSAN)', 11 unless $ENV{LUAFCGID_TSAN} && -x $ENV{LUAFCGID_TSAN};
    load_run('TSan build', LUAFCGID => $ENV{LUAFCGID_TSAN});
}
done_testing;
