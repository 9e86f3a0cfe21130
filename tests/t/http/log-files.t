# The access and slow log files against what a script, a client, a full
# disk or a config can put in their way: a FIFO or a hard link where the
# file was (start-up, USR1), -t checking what start-up checks, a value that
# would push the other fields off the line, %C across a reload, getrusage
# only for %C, and lines lost on a full disk (counted, never glued).
# one build: opening and reopening the log files, in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use POSIX qw(mkfifo WNOHANG);
use Time::HiRes qw(time sleep);
use File::Temp ();
use LFTest qw(wait_for slurp);

my $bin = LFTest::binary();
my $ok_lua = "function main(env, req) req:puts('ok') end\n";

sub cli { my $out = `@_ 2>&1`; return ($? >> 8, $out) }

# ---- -t says what start-up will refuse --------------------------------------
{
    my $t = LFTest->new(conf => { workers => 1 });
    my $dir = $t->dir;
    $t->write_conf(access_log => "$dir/nodir/access.log");
    my ($rc, $out) = cli($bin, '-t', $t->conf_path);
    is($rc, 1, '-t fails for an access_log whose directory is missing');
    like($out, qr/access log .*nodir.* does not exist/, 'and says why');
    $t->write_conf(logfile => "$dir/nodir/lf.log");
    ($rc, $out) = cli($bin, '-t', $t->conf_path);
    is($rc, 0, "-t accepts it in the daemon's log directory, which start-up makes") or diag $out;
    $t->write_conf(logfile => "$dir/lf.log");

    mkfifo("$dir/fifo.log", 0600) or die "mkfifo: $!";
    $t->write_conf(access_log => "$dir/access.log", slowlog => "$dir/fifo.log", slowtime => 1);
    ($rc, $out) = cli($bin, '-t', $t->conf_path);
    is($rc, 1, '-t fails for a slowlog that is a FIFO');
    like($out, qr/slow log .*fifo\.log is not a regular file/, 'and says why');

    $t->write_conf(slowlog => "$dir/slow.log", access_format => '%{%Y%n%m}t %s');
    ($rc, $out) = cli($bin, '-t', $t->conf_path);
    is($rc, 1, '-t refuses a %{...}t that prints a newline');
    like($out, qr/control character/, 'and says why');

    $t->write_conf(access_format => '%{' . ('%c' x 127) . '}t %s');
    ($rc, $out) = cli($bin, '-t', $t->conf_path);
    is($rc, 1, '-t refuses a %{...}t that prints more than 511 bytes');
    like($out, qr/more than 511 bytes/, 'and says why');

    # wider than any buffer: strftime's 0, which is not "printed nothing"
    for my $wide ('%1000Y', '%9000Y', '%99999Y') {
        $t->write_conf(access_format => "[%{$wide}t] %s %r");
        ($rc, $out) = cli($bin, '-t', $t->conf_path);
        is($rc, 1, "-t refuses %{$wide}t, too wide to print");
        like($out, qr/more than 511 bytes/, 'and says why');
    }
    $t->write_conf(access_format => '[%{%p}t%{}t] %s');
    ($rc, $out) = cli($bin, '-t', $t->conf_path);
    is($rc, 0, '-t accepts a %{...}t that may print nothing') or diag $out;

    $t->write_conf(access_format => '%{HTTP_X_A}e %{%c}t %T ' x 2000);
    ($rc, $out) = cli($bin, '-t', $t->conf_path);
    is($rc, 1, '-t refuses a format that leaves no room for its values');
    like($out, qr/access_format.*too long/, 'and says why');

    $t->write_conf(access_format => "%s\n%d");
    ($rc, $out) = cli($bin, '-t', $t->conf_path);
    is($rc, 1, '-t refuses a newline in access_format');

    $t->write_conf(access_format => "%{%Y-%m-%d}t\t%s %C");
    ($rc, $out) = cli($bin, '-t', $t->conf_path);
    is($rc, 0, '-t accepts a good config') or diag $out;
}

# ---- a FIFO at slowlog: start-up fails at once, saying why ------------------
{
    my $t = LFTest->new(conf => { workers => 1, slowtime => 1 }, scripts => { 'ok.lua' => $ok_lua });
    my $slow = $t->dir . '/slow.log';
    mkfifo($slow, 0600) or die "mkfifo: $!";
    $t->write_conf(slowlog => $slow);
    my $up = eval { $t->start; 1 };
    ok($t->wait_log(qr/slow log \S+slow\.log is a FIFO or a device, not a regular file/, 10),
       'start-up refuses a FIFO as slowlog, saying why');
    ok($t->wait_log(qr/start-up failed/, 10), 'and start-up fails instead of hanging');
    $t->stop if $up;
}

# ---- a script plants a FIFO, then a hard link, at access_log; USR1 ----------
{
    my $t = LFTest->new(conf => { workers => 2 }, scripts => {
        'plant.lua' => "function main(env, req) os.rename(env.LOG, env.LOG .. '.old') "
                     . "os.execute('mkfifo ' .. env.LOG) req:puts('planted') end\n",
        'ok.lua'    => $ok_lua,
    });
    my $acc = $t->dir . '/access.log';
    $t->write_conf(access_log => $acc, access_format => '%{HTTP_X_N}e %s');
    $t->start;
    is($t->get('plant.lua', LOG => $acc, HTTP_X_N => 'plant')->{body}, 'planted', 'a script plants a FIFO');
    ok(-p $acc, 'the access log is now a FIFO');
    $t->signal('USR1');
    ok($t->wait_log(qr/access log \S+ is a FIFO or a device, not a regular file; refusing it/, 5),
       'USR1 refuses it, saying why');
    ok($t->wait_log(qr/still writing the access log to the file opened before/, 5), 'and keeps the old file');
    is($t->get('ok.lua', HTTP_X_N => 'after-fifo')->{body}, 'ok', 'requests are still served');
    ok(wait_for(sub { (slurp("$acc.old") // '') =~ /^after-fifo 200$/m }, 5), 'and logged to the old file');

    unlink $acc;
    LFTest::spew("$acc.other", '');
    link("$acc.other", $acc) or die "link: $!";
    $t->signal('USR1');
    ok($t->wait_log(qr/access log \S+ is not a regular file with a single link; refusing it/, 5),
       'USR1 refuses a hard link');
    unlink $acc, "$acc.other";
    $t->signal('USR1');
    # the reopen is the signal thread's: ask until a line lands there
    ok(wait_for(sub { $t->get('ok.lua', HTTP_X_N => 'reopened');
                      (slurp($acc) // '') =~ /^reopened 200$/m }, 5), 'a regular file is taken again');

    $t->write_conf(workers => 2, maxidle => 5);
    $t->signal('HUP');
    ok($t->wait_log(qr/reloaded/, 5), 'HUP is still handled');
    my $t0 = time;
    $t->stop;
    cmp_ok(time - $t0, '<', 10, 'TERM still stops the daemon');
}

# ---- a value from the client cannot push the other fields off the line ------
{
    my $t = LFTest->new(conf => { workers => 1,
                                  access_format => '%r|%q|%{HTTP_X_A}e|%{HTTP_X_B}e|%{HTTP_X_C}e|%s|%d' },
                        scripts => { 'ok.lua' => $ok_lua });
    my $acc = $t->dir . '/access.log';
    $t->write_conf(access_log => $acc);
    $t->start;
    $t->get('ok.lua', REQUEST_URI => '/' . ("\x01" x 3000), QUERY_STRING => 'q' x 5000,
            HTTP_X_A => "\xff" x 3000, HTTP_X_B => 'b' x 3000, HTTP_X_C => "\"" x 3000);
    ok(wait_for(sub { (slurp($acc) // '') =~ /\n/ }, 5), 'the line is written');
    my ($line) = split /\n/, slurp($acc);
    like($line, qr/\|200\|[\d.]+$/, 'five long escaped values do not push %s and %d off the line');
    cmp_ok(length($line), '<', 8192, 'which fits in 8192 bytes');
    my @f = split /\|/, $line;
    like($f[$_], qr/\.\.\.$/, "value $_ is cut and marked") for 0 .. 4;
    cmp_ok(length($f[$_]), '<=', 2048, "value $_ is at most 2048 bytes") for 0 .. 4;
    like($f[0], qr/^\/(\\x01)+\.\.\.$/, 'cut between escapes');
    $t->stop;
}

# ---- %C when a reload turns it on while a request's params arrive ----------
{
    my $t = LFTest->new(conf => { workers => 1, access_format => '%{HTTP_X_N}e %C %{user}C %d' },
        scripts => {
            'burn.lua' => "function main(env, req) local s = os.clock() "
                        . "while os.clock() - s < 0.3 do end req:puts('b') end\n",
            'ok.lua'   => $ok_lua,
        });
    $t->start;
    $t->get('burn.lua') for 1 .. 3;       # the worker thread has a CPU history
    my $acc = $t->dir . '/access.log';
    my $s = $t->connect;
    # over 8 kB before its end, so that a worker takes it up unwhole (dispatch_whole.c)
    my $req = LFTest::encode_request({ SCRIPT_FILENAME => $t->www . '/ok.lua', REQUEST_METHOD => 'GET',
                                       HTTP_X_N => 'raced', HTTP_X_PAD => 'p' x 9000 }, '');
    LFTest::write_all($s, substr($req, 0, 8500));
    ok(wait_for(sub { LFTest::drained($s) }, 5), 'a worker has read the start of the request');
    $t->write_conf(access_log => $acc);
    $t->signal('HUP');
    ok($t->wait_log(qr/reloaded/), 'HUP turns the access log on mid-request');
    LFTest::write_all($s, substr($req, 8500));
    is(LFTest::read_response($s)->{body}, 'ok', 'the request is answered');
    ok(wait_for(sub { (slurp($acc) // '') =~ /^raced /m }, 5), 'and logged');
    my ($c, $u) = (slurp($acc) =~ /^raced (\S+) (\S+)/m);
    cmp_ok($c, '<=', 100, "%C is at most 100 % ($c)");
    cmp_ok($u, '<=', 100, "%{user}C is at most 100 % ($u)");
    $t->stop;
}

# ---- the thread's CPU time is read only when the format has %C -------------
SKIP: {
    skip 'strace is not installed', 2 unless -x '/usr/bin/strace';
    for my $case (['%R %s', 0], ['%R %s %C', 1]) {
        my ($format, $want) = @$case;
        my $t = LFTest->new(conf => { workers => 1, access_format => $format },
                            scripts => { 'ok.lua' => $ok_lua });
        $t->write_conf(access_log => $t->dir . '/access.log');
        $t->start;
        my $pid = LFTest::serving_pid($t);
        my $out = $t->dir . '/strace.out';
        my $st = fork // die "fork: $!";
        if ($st == 0) {
            open(STDERR, '>', '/dev/null');
            exec('/usr/bin/strace', '-f', '-qq', '-e', 'trace=getrusage', '-o', $out, '-p', $pid)
                or POSIX::_exit(127);
        }
        LFTest::track($st, 'strace');
        my $traced = wait_for(sub {
            my @t = glob("/proc/$pid/task/*/status");
            @t && !grep { (slurp($_) // '') !~ /^TracerPid:\s+[1-9]/m } @t;
        }, 10);
        $t->get('ok.lua') for 1 .. 5;
        LFTest::stop_pid($st, 'INT', 10);
        my $calls = () = (slurp($out) // '') =~ /getrusage/g;
        if (!$traced) {
            skip 'strace cannot attach here', 1;
        } elsif ($want) {
            cmp_ok($calls, '>=', 5, "with %C the CPU time is read ($calls getrusage)");
        } else {
            is($calls, 0, 'without %C no getrusage is made');
        }
        $t->stop;
    }
}

# ---- a full disk: lines lost and counted, the daemon's log not flooded ------
SKIP: {
    skip 'needs root to mount a tmpfs', 8 if $>;
    my $tiny = File::Temp::tempdir(CLEANUP => 0);
    if (system('mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', $tiny) != 0) {
        rmdir $tiny;
        skip 'cannot mount a tmpfs', 8;
    }
    my $t = LFTest->new(conf => { workers => 2, access_format => '%{HTTP_X_N}e %r %s' },
                        scripts => { 'ok.lua' => $ok_lua });
    my $acc = "$tiny/access.log";
    LFTest::spew("$tiny/filler", 'f' x 16384);     # removed later: space comes back
    $t->write_conf(access_log => $acc);
    $t->start;
    my $bad = 0;
    for my $i (1 .. 600) {
        my $r = $t->get('ok.lua', HTTP_X_N => "n$i", REQUEST_URI => '/' . ('x' x 200));
        $bad++ unless $r->{body} eq 'ok';
    }
    is($bad, 0, 'every request is answered on a full disk');
    my @lost = $t->log =~ /cannot write to the access log/g;
    cmp_ok(scalar(@lost), '>=', 1, 'the loss is reported');
    cmp_ok(scalar(@lost), '<', 10, 'but not once per lost line (' . scalar(@lost) . ' warnings)');
    like($t->log, qr/cannot write to the access log.*; \d+ lines? lost/, 'with a count');
    unlink "$tiny/filler";
    $t->get('ok.lua', HTTP_X_N => 'again', REQUEST_URI => '/');
    ok(wait_for(sub { (slurp($acc) // '') =~ /again/ }, 5), 'lines get through once there is room');
    my $text = slurp($acc) // '';
    like($text, qr/^again \/ 200$/m, 'on a line of their own');
    my @glued = grep { $_ ne '' && !/^(n\d+|again) \/x*( 200)?$/ } split /\n/, $text;
    is(scalar(@glued), 0, 'no line is glued to a cut one')
        or diag 'glued: ' . substr($glued[0], 0, 80);
    ok($t->wait_log(qr/the access log is written again/, 5), 'and the daemon\'s log says so');
    $t->stop;
    system('umount', $tiny);
    rmdir $tiny;
}

done_testing;
