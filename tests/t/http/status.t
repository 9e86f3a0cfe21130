# The status and ping pages: php-fpm's fields, names and formats, our own
# figures equal to the traffic that was sent, answers that are never cached,
# HEAD without a body, and answers within 50 ms while every worker is stuck
# in an endless loop.
# alone: ping and status must answer within 50 ms while two loops hold both cores
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use JSON::PP ();
use Time::HiRes qw(time);
use LFTest qw(wait_for slurp spew);

my %scripts = (
    'hello.lua'  => 'function main(env, req) req:puts("hello") end',
    'err.lua'    => 'function main(env, req) error("deliberate") end',
    'loop.lua'   => 'function main(env, req) while true do end end',
    'syntax.lua' => 'function main(env, req) req:puts( end',
);

# A status or ping request as php-fpm's exporters send it: no document root,
# SCRIPT_NAME = SCRIPT_FILENAME = the path.
sub page {
    my ($t, $path, $query, %o) = @_;
    return $t->fcgi({ SCRIPT_NAME => $path, SCRIPT_FILENAME => $path, QUERY_STRING => $query // '',
                      REQUEST_METHOD => $o{method} // 'GET', REQUEST_URI => $path }, '',
                    timeout => $o{timeout} // 30);
}

# "key:   value" lines of the text page; the value starts at php-fpm's column.
sub text_fields {
    my ($body) = @_;
    my (%f, $bad);
    for my $line (split /\n/, $body) {
        last if $line eq '';
        my ($k, $v) = $line =~ /^([^:]+):\s+(.*)$/ or next;
        $bad .= "$line\n" unless length($k) + 1 >= 21 ? $line =~ /^\Q$k\E: \S/ : index($line, $v) == 22;
        $f{$k} = $v;
    }
    return (\%f, $bad);
}

my @php_keys = ('pool', 'process manager', 'start time', 'start since', 'accepted conn', 'listen queue',
                'max listen queue', 'listen queue len', 'idle processes', 'active processes',
                'total processes', 'max active processes', 'max children reached', 'slow requests');
# php-fpm writes "request URI" in text and "request uri" in JSON
my @proc_keys = ('pid', 'state', 'start time', 'start since', 'requests', 'request duration',
                 'request method', 'request uri', 'content length', 'user', 'script',
                 'last request cpu', 'last request memory');

# ---- the figures after a known mix of traffic --------------------------------
{
    my $t = LFTest->new(conf => { workers => 2, states => 4, timeout => 1,
                                  status_path => '/status', ping_path => '/ping',
                                  ping_response => 'alive' },
                        scripts => \%scripts);
    $t->start;
    my ($n, $m, $k) = (5, 3, 2);
    is($t->get('hello.lua')->{status}, 200, 'a good request') for 1 .. $n;
    is($t->get('err.lua')->{status}, 500, 'a runtime error') for 1 .. $m;
    like($t->get('loop.lua')->{body}, qr/timeout/, 'a timeout') for 1 .. $k;
    is($t->get('syntax.lua')->{status}, 500, 'a syntax error');
    is($t->get('missing.lua')->{status}, 404, 'a missing script');
    is($t->get('hello.lua', SCRIPT_NAME => '/status.lua')->{status}, 200,
       'a SCRIPT_NAME that only starts like status_path runs its script');
    # a script edited: its state is replaced, a second load
    my $www = $t->www;
    $t->script('hello.lua', 'function main(env, req) req:puts("hello, edited") end');
    is($t->get('hello.lua')->{body}, 'hello, edited', 'the edited script runs');
    # two scripts more than the states limit leaves room for: two evicted for room
    $t->script("$_.lua", 'function main(env, req) req:puts("x") end') for qw(a1 a2 a3 a4);
    is($t->get("$_.lua")->{body}, 'x', "$_ runs") for qw(a1 a2 a3 a4);
    my $sent = $n + $m + $k + 1 + 1 + 1 + 1 + 4;

    my $r = page($t, '/status');
    is($r->{status}, 200, 'the status page answers 200');
    is($r->{headers}{'content-type'}, 'text/plain;charset=UTF-8', 'plain text by default, as php-fpm types it');
    is($r->{headers}{'cache-control'}, 'no-cache, no-store, must-revalidate, max-age=0', 'never cached');
    is($r->{headers}{expires}, 'Thu, 01 Jan 1970 00:00:00 GMT', 'already expired');
    my ($f, $bad) = text_fields($r->{body});
    is($bad, undef, 'every key: is padded to php-fpm\'s column') or diag $bad;
    is(join('|', grep { !exists $f->{$_} } @php_keys), '', 'every php-fpm pool field is there');
    is($f->{pool}, 'luafcgid', 'pool');
    is($f->{'process manager'}, 'static', 'process manager');
    like($f->{'start time'}, qr{^\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}$}, 'start time as php-fpm writes it');
    is($f->{'accepted conn'}, $sent + 1, 'accepted conn counts every request, this one too');
    is($f->{'total processes'}, 2, 'total processes are the workers');
    is($f->{'idle processes'} + $f->{'active processes'}, 2, 'idle + active = total');
    is($f->{'listen queue len'}, 511, 'listen queue len is the backlog');
    is($f->{'errors runtime'}, $m, 'runtime errors');
    is($f->{'errors timeout'}, $k, 'timeouts');
    is($f->{'errors syntax'}, 1, 'syntax errors');
    is($f->{'errors not found'}, 1, 'not found');
    is($f->{'errors memory'}, 0, 'no memory errors');
    is($f->{'luafcgid version'}, '1.0.0', 'our version');
    is($f->{'states limit'}, 4, 'the states limit');
    is($f->{restarts}, 0, 'no restarts yet');
    is($f->{'evictions timeout'}, $k, 'evictions: a state closed per timeout');
    is($f->{'evictions changed'}, 1, 'evictions: the edited script\'s old state');
    is($f->{'evictions full'}, 2, 'evictions: two for room at the states limit');
    is($f->{'evictions flush'} + $f->{'evictions idle'} + $f->{'evictions maxrequests'}
       + $f->{'evictions memory'}, 0, 'evictions: no others');
    is($f->{states}, 4, 'states loaded: the limit');
    is($f->{'scripts loaded'}, 4, 'scripts with a state');
    my $accepted = $f->{'accepted conn'};

    # JSON: php-fpm's keys and types
    $r = page($t, '/status', 'json&full');
    is($r->{headers}{'content-type'}, 'application/json', '?json is JSON');
    my $j = eval { JSON::PP->new->decode($r->{body}) };
    ok($j, 'the JSON parses') or diag $r->{body};
    my %seen;
    my @dup = grep { $seen{$_}++ } $r->{body} =~ /[{,]"([^"]+)":/g;
    my %top = map { $_ => 1 } grep { !/^(pid|state|start time|start since|requests|request .*|content length|user|script|last request .*|path|states|busy|errors .*|mean duration|max duration|loads|last load time|lua memory|total duration)$/ } @dup;
    is(join('|', sort keys %top), '', 'no key twice at the top level');
    $j //= {};
    is(join('|', grep { !exists $j->{$_} } @php_keys), '', 'every php-fpm key is in the JSON');
    my @not_numbers = grep { $_ ne 'pool' && $_ ne 'process manager' && $j->{$_} !~ /^\d+$/ } @php_keys;
    is("@not_numbers", '', 'the numeric fields are numbers; times are epoch seconds');
    ok(abs($j->{'start time'} - time) < 600, 'start time is now-ish in epoch seconds');
    is($j->{'accepted conn'}, $accepted + 1, 'accepted conn moved by one');
    is($j->{'errors runtime'}, $m, 'the same runtime errors in JSON');
    is(ref $j->{processes}, 'ARRAY', '&full adds the processes');
    is(scalar @{ $j->{processes} || [] }, 2, 'one per worker');
    my $p = $j->{processes}[0] || {};
    is(join('|', grep { !exists $p->{$_} } @proc_keys), '', 'every php-fpm process key');
    is_deeply([sort map { $_->{pid} } @{ $j->{processes} }], [1, 2], 'pid is the worker\'s number');
    my $requests = 0;
    $requests += $_->{requests} for @{ $j->{processes} };
    is($requests, $sent, 'the workers\' requests add up to the scripts\' requests');

    # per script
    my %s = map { $_->{path} => $_ } @{ $j->{scripts} || [] };
    is_deeply([sort keys %s], [map { "$www/$_" } qw(a1.lua a2.lua a3.lua a4.lua err.lua hello.lua loop.lua syntax.lua)],
              'one entry per script that ran; a missing one makes none');
    my ($hello, $err, $loop, $syn) = map { $s{"$www/$_"} || {} } qw(hello.lua err.lua loop.lua syntax.lua);
    is($hello->{requests}, $n + 2, 'hello: its requests');
    is($hello->{loads}, 2, 'hello: loaded twice, since it was edited');
    ok(abs($hello->{'last load time'} - time) < 600, 'hello: last load time in epoch seconds');
    is($s{"$www/a4.lua"}{states}, 1, 'a4: its state');
    is($s{"$www/a4.lua"}{busy}, 0, 'a4: not busy');
    ok($s{"$www/a4.lua"}{'lua memory'} > 0, 'a4: the Lua memory its state holds');
    is($err->{requests}, $m, 'err: its requests');
    is($err->{'errors runtime'}, $m, 'err: every one a runtime error');
    is($err->{loads}, 1, 'err: a runtime error keeps the state');
    is($loop->{'errors timeout'}, $k, 'loop: every one a timeout');
    is($loop->{loads}, $k, 'loop: a timeout closes the state, so each request loads it again');
    ok($loop->{'max duration'} >= 1e6 && $loop->{'max duration'} < 10e6, 'loop: max duration about timeout, in µs');
    ok($loop->{'mean duration'} >= 1e6, 'loop: mean duration too');
    ok($hello->{'max duration'} < $loop->{'max duration'}, 'hello is faster than loop');
    is($syn->{'errors syntax'}, 1, 'syntax: a syntax error');
    is($syn->{loads}, 0, 'syntax: a failed load is no load');
    is($j->{'errors runtime'}, $m, 'the pool\'s runtime errors');

    # XML and HTML carry the same figures
    $r = page($t, '/status', 'xml');
    is($r->{headers}{'content-type'}, 'text/xml;charset=UTF-8', '?xml is XML');
    like($r->{body}, qr{^<\?xml version="1.0" \?>\n<status>\n<pool>luafcgid</pool>\n}, 'php-fpm\'s XML head');
    like($r->{body}, qr{<accepted-conn>@{[ $accepted + 2 ]}</accepted-conn>}, 'accepted-conn in XML');
    like($r->{body}, qr{<errors-timeout>$k</errors-timeout>}, 'timeouts in XML');
    $r = page($t, '/status', 'html');
    is($r->{headers}{'content-type'}, 'text/html;charset=UTF-8', '?html is HTML');
    like($r->{body}, qr{<tr><th>accepted conn</th><td>@{[ $accepted + 3 ]}</td></tr>}, 'accepted conn in HTML');

    # OpenMetrics: a strict parser reads it
    $r = page($t, '/status', 'openmetrics');
    is($r->{headers}{'content-type'}, 'application/openmetrics-text; version=1.0.0; charset=utf-8',
       'OpenMetrics content type');
    like($r->{body}, qr/# EOF\n\z/, 'ends with # EOF');
    my $file = $t->dir . '/metrics.txt';
    spew($file, $r->{body});
    # Debian's python3-prometheus-client (tools/deps --test), not another python's
    my ($python) = grep { system("$_ -c 'import prometheus_client' 2>/dev/null") == 0 }
                   '/usr/bin/python3', 'python3';
    $python //= 'python3';
    my $parsed = `$python -c '
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in fam.samples:
        print("|".join([fam.type, s.name, ",".join("%s=%s" % kv for kv in sorted(s.labels.items())), repr(s.value)]))
' $file 2>&1`;
    is($? >> 8, 0, 'prometheus_client\'s OpenMetrics parser accepts it') or diag $parsed . $r->{body};
    my %om = map { my @w = split /\|/, $_, 4; ("$w[1]\{$w[2]\}" => $w[3]) } split /\n/, $parsed;
    is($om{'luafcgid_accepted_connections_total{}'}, $accepted + 4, 'accepted connections');
    is($om{'luafcgid_failed_requests_total{kind=runtime}'}, $m, 'runtime errors by kind');
    is($om{'luafcgid_failed_requests_total{kind=timeout}'}, $k, 'timeouts by kind');
    is($om{'luafcgid_failed_requests_total{kind=syntax}'}, 1, 'syntax errors by kind');
    is($om{'luafcgid_failed_requests_total{kind=not found}'}, 1, 'not found by kind');
    is($om{"luafcgid_requests_total{script=$www/hello.lua}"}, $n + 2, 'requests by script');
    is($om{"luafcgid_errors_total{kind=runtime,script=$www/err.lua}"}, $m, 'errors by script and kind');
    is($om{"luafcgid_errors_total{kind=timeout,script=$www/loop.lua}"}, $k, 'timeouts by script');
    is($om{"luafcgid_request_duration_seconds_count{script=$www/loop.lua}"}, $k, 'a duration summary by script');
    cmp_ok($om{"luafcgid_request_duration_seconds_sum{script=$www/loop.lua}"}, '>=', $k, 'its sum in seconds');
    is($om{"luafcgid_loads_total{script=$www/hello.lua}"}, 2, 'loads by script');
    is($om{'luafcgid_evictions_total{reason=timeout}'}, $k, 'evictions by reason');
    is($om{'luafcgid_evictions_total{reason=full}'}, 2, 'evictions for room');
    is($om{'luafcgid_processes{state=idle}'} + $om{'luafcgid_processes{state=active}'}, 2, 'workers by state');
    is($om{'luafcgid_build_info{version=1.0.0}'}, 1, 'the version as an info metric');

    # HEAD: the headers only
    $r = page($t, '/status', 'json', method => 'HEAD');
    is($r->{body}, '', 'HEAD gets no body');
    ok($r->{headers}{'content-length'} > 100, 'but the length a GET would get');
    is($r->{headers}{'cache-control'}, 'no-cache, no-store, must-revalidate, max-age=0', 'HEAD is not cached either');

    # ping
    $r = page($t, '/ping');
    is($r->{status}, 200, 'ping answers 200');
    is($r->{body}, "alive", 'with ping_response, as php-fpm: no newline');
    like($r->{headers}{'content-type'}, qr{^text/plain}, 'as text/plain');
    is($r->{headers}{'cache-control'}, 'no-cache, no-store, must-revalidate, max-age=0', 'ping is not cached');
    is(page($t, '/ping', '', method => 'HEAD')->{body}, '', 'HEAD ping has no body');

    # through nginx, as the README shows it
    my $locations = <<'LOC';
        location ~ ^/(status|ping)$ {
            allow 127.0.0.1;
            deny all;
            fastcgi_param SCRIPT_NAME $fastcgi_script_name;
            fastcgi_param SCRIPT_FILENAME $fastcgi_script_name;
            fastcgi_param QUERY_STRING $query_string;
            fastcgi_param REQUEST_METHOD $request_method;
            fastcgi_pass luafcgid;
        }
LOC
    $t->start_nginx(locations => $locations);
    my $h = LFTest::http_get($t->nginx_url('/status?json'));
    is($h->{status}, 200, 'status through nginx');
    my $nj = eval { JSON::PP->new->decode($h->{content}) } || {};
    is($nj->{'errors runtime'}, $m, 'the JSON through nginx holds the figures');
    is($h->{headers}{'cache-control'}, 'no-cache, no-store, must-revalidate, max-age=0', 'nginx passes no-cache');
    is(LFTest::http_get($t->nginx_url('/ping'))->{content}, "alive", 'ping through nginx');
    $t->stop_nginx;

    # HUP flushes the states; a killed serving process is restarted and counted
    $t->signal('HUP');
    ok(wait_for(sub { (text_fields(page($t, '/status')->{body}))[0]{'evictions flush'} == 4 }, 10),
       'HUP: the four idle states are evicted as a flush');
    my $child = LFTest::serving_pid($t);
    ok($child && kill('KILL', $child), 'the serving process is killed');
    ok(wait_for(sub { my $c = LFTest::serving_pid($t, 1); $c && $c != $child && $t->can_connect }, 15),
       'a new one serves');
    my $after;
    ok(wait_for(sub { $after = (text_fields(page($t, '/status', '', timeout => 2)->{body}))[0]; ($after->{restarts} // -1) == 1 }, 10),
       'restarts: 1') or diag explain $after;
    is($after->{'accepted conn'}, 1, 'the new process counts from its start');
    $t->stop;
}

# ---- unset paths are ordinary script names -------------------------------------
{
    my $t = LFTest->new(scripts => \%scripts);
    $t->start;
    my $r = page($t, '/status');
    ok($r->{status} >= 400 && $r->{body} !~ /accepted conn/, 'without status_path, /status is a script name like any');
    $r = page($t, '/ping');
    ok($r->{status} >= 400 && $r->{body} !~ /pong/, 'without ping_path, /ping too');
    $t->stop;
}

# ---- status and ping while every worker runs an endless loop ---------------------
# (a loop that ends once the test lets go, 30 s at most)
{
    my $t = LFTest->new(conf => { workers => 2, timeout => 30, backlog => 16, status_path => '/status',
                                  ping_path => '/ping' },
                        scripts => \%scripts);
    my $go = $t->dir . '/go';
    $t->script('spin.lua', 'function main(env, req)
                              while true do local f = io.open(env.GO) if f then f:close() break end end
                              req:puts("spun")
                            end');
    $t->start;
    # nginx with kept connections: its status request later rides on one
    $t->start_nginx(keepalive => 4, locations => <<'LOC');
        location ~ ^/(status|ping)$ {
            fastcgi_param SCRIPT_NAME $fastcgi_script_name;
            fastcgi_param SCRIPT_FILENAME $fastcgi_script_name;
            fastcgi_param QUERY_STRING $query_string;
            fastcgi_param REQUEST_METHOD $request_method;
            fastcgi_keep_conn on;
            fastcgi_pass luafcgid;
        }
LOC
    is(LFTest::http_get($t->nginx_url('/ping'))->{content}, 'pong', 'ping through nginx keeps a connection');
    my @stuck = map {
        my $s = $t->connect;
        LFTest::write_all($s, LFTest::encode_request({ SCRIPT_FILENAME => $t->www . '/spin.lua', GO => $go,
                                                       REQUEST_METHOD => 'GET' }, ''));
        $s;
    } 1 .. 2;
    my $f;
    ok(wait_for(sub {
        ($f) = text_fields(page($t, '/status', '', timeout => 2)->{body});
        ($f->{'active processes'} // 0) == 2;
    }, 5), 'both workers run the endless loop') or diag explain $f;
    my $queued = $t->connect;
    LFTest::write_all($queued, LFTest::encode_request({ SCRIPT_FILENAME => $t->www . '/hello.lua',
                                                        REQUEST_METHOD => 'GET' }, ''));
    # the two loops hold both cores of a small machine: judge the median of
    # five answers against 50 ms, and every one against a bound far below
    # the 30 s a worker would take
    my (@ping, @status);
    my ($pong, $seen) = (0, '');
    for (1 .. 5) {
        my $t0 = time;
        my $r = page($t, '/ping', '', timeout => 2);
        push @ping, (time - $t0) * 1000;
        $pong++ if $r->{body} eq "pong";
        $t0 = time;
        $r = page($t, '/status', 'full', timeout => 2);
        push @status, (time - $t0) * 1000;
        $seen = $r->{body};
    }
    @ping = sort { $a <=> $b } @ping;
    @status = sort { $a <=> $b } @status;
    is($pong, 5, 'ping answers while every worker is stuck');
    cmp_ok($ping[2], '<', 50, 'ping within 50 ms (median of 5, ms)') or diag "@ping";
    cmp_ok($status[2], '<', 50, 'status within 50 ms (median of 5, ms)') or diag "@status";
    cmp_ok($ping[4], '<', 1000, 'no ping waits for a worker') or diag "@ping";
    cmp_ok($status[4], '<', 1000, 'no status waits for a worker') or diag "@status";
    ($f) = text_fields($seen);
    is($f->{'idle processes'}, 0, 'the page says no worker is idle');
    is($f->{'listen queue'}, 1, 'and one request waits for a worker');
    ok($f->{'max listen queue'} >= 1, 'max listen queue saw it');
    is($f->{'max children reached'} >= 1 && $f->{'max active processes'}, 2, 'max active processes: both');
    is(() = $seen =~ /^state:\s+Running$/mg, 2, 'both workers are Running in &full');
    like($seen, qr{^script:\s+\S*/spin\.lua$}m, 'and the script they run');
    like($seen, qr{^request URI:\s+\S}m, 'text writes php-fpm\'s "request URI"');
    # more new connections than the service thread takes in: the rest wait
    # in the backlog, and status on nginx's kept connection still answers
    my @more = map {
        my $s = $t->connect;
        LFTest::write_all($s, LFTest::encode_request({ SCRIPT_FILENAME => $t->www . '/hello.lua',
                                                       REQUEST_METHOD => 'GET' }, ''));
        $s;
    } 1 .. 24;
    # 25 wait: the service thread takes new ones in while fewer than
    # `backlog` (16) wait; the others stay in the kernel's backlog
    my ($h, $dt, $nj);
    ok(wait_for(sub {
        my $t0 = time;
        $h = LFTest::http_get($t->nginx_url('/status?json'), timeout => 5);
        $dt = time - $t0;
        $nj = eval { JSON::PP->new->decode($h->{content}) } || {};
        ($nj->{'listen queue'} // 0) >= 16;
    }, 5), 'status through nginx\'s kept connection while new ones wait') or diag $h->{content};
    cmp_ok($dt, '<', 1, 'it does not wait for a worker');
    is($nj->{'listen queue'}, 16, 'the service thread took in 16 new connections, as backlog says, no more');
    is($nj->{'idle processes'}, 0, 'and it says no worker is idle');
    spew($go, '');
    for my $s (@stuck) {
        is(LFTest::read_response($s, timeout => 30)->{body}, 'spun', 'the loop ends once let go');
    }
    my $r = LFTest::read_response($queued, timeout => 30);
    is($r->{body}, 'hello', 'the request that waited is served, not lost, once a worker is free');
    is(scalar(grep { LFTest::read_response($_, timeout => 30)->{body} eq 'hello' } @more), 24,
       'every waiting request is served once the loops end');
    $t->stop_nginx;
    is($t->stop, 0, 'stop');
}

done_testing;
