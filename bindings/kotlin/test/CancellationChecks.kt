// The cancellation checks of the Kotlin test program (Harness.kt is the
// harness). Cancelling the coroutine of an SDK suspend call (Job.cancel,
// withTimeout) makes UniFFI's generated `uniffiRustCallAsync` resume with a
// CancellationException at once and free the Rust future, which drops the
// request in flight (the built-in HTTP client closes its connection). Checked
// against an issuer whose every answer waits 3 s:
//   - resolveOffer cancelled (Job.cancel, withTimeout) ends within 1 s;
//   - authorize cancelled ends within 1 s and the offer may be authorized again;
//   - with the app's HttpClient the coroutine ends as fast, but the app's own
//     request runs on on the SDK's blocking thread until it is answered;
//   - the issuer's counters: every request of the built-in client that was
//     cancelled was never handled (no token request at all), every request of
//     the app's HttpClient was;
//   - the same wallet then issues a credential from the main issuer;
//   - a deferred wait: cancelling its coroutine ends it within 1 s and the
//     transaction goes on; `DeferredCredential.cancel()` ends it with
//     WalletException.Cancelled within 1 s, and that object's waits stay
//     cancelled (restore it from toJson() to wait again).
//
// Issuer (skipped without it):
//   OID4VCI_ISSUER_SLOW=<url>  an issuer run with --latency-ms 3000

import dev.oid4vci.wallet.ResolvedOffer
import dev.oid4vci.wallet.DeferredCredential
import dev.oid4vci.wallet.HttpClient
import dev.oid4vci.wallet.HttpRequest
import dev.oid4vci.wallet.HttpResponse
import dev.oid4vci.wallet.Wallet
import dev.oid4vci.wallet.WalletException
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.async
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeout
import java.net.URLEncoder
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicReference

/** When the app gives up on a call. */
const val CANCEL_AFTER_MS = 200L
/** How long after the cancel a cancelled call may take to end. */
const val CANCEL_BOUND_MS = 1000L

/** Milliseconds since `start` (System.nanoTime). */
fun msSince(start: Long): Long = (System.nanoTime() - start) / 1_000_000

/**
 * An offer by value for `issuer` whose pre-authorized code is never redeemed:
 * resolving it fetches the issuer's metadata, authorizing it sends a token
 * request, and nothing here lets either finish.
 */
fun offerByValue(issuer: String): String {
    val json = """{"credential_issuer":"$issuer","credential_configuration_ids":["pid_sd_jwt"],""" +
        """"grants":{"urn:ietf:params:oauth:grant-type:pre-authorized_code":""" +
        """{"pre-authorized_code":"cancelled-before-it-was-sent"}}}"""
    return "openid-credential-offer://?credential_offer=" + URLEncoder.encode(json, Charsets.UTF_8)
}

/** The app's HTTP stack (KotlinHttpClient), counting the sends that started and those that returned. */
class RecordingHttpClient : HttpClient {
    private val inner = KotlinHttpClient()
    val started = AtomicInteger()
    val finished = AtomicInteger()

    override fun send(request: HttpRequest): HttpResponse {
        started.incrementAndGet()
        try {
            return inner.send(request)
        } finally {
            finished.incrementAndGet()
        }
    }
}

/**
 * Launches `call` in `scope`, cancels its coroutine after CANCEL_AFTER_MS and
 * checks it ended cancelled within CANCEL_BOUND_MS (and not with a result or
 * another error). Returns how long the cancel took, in ms.
 */
suspend fun cancelCoroutine(scope: CoroutineScope, what: String, call: suspend () -> Unit): Long {
    val outcome = AtomicReference("still running")
    val job: Job = scope.launch {
        try {
            call()
            outcome.set("finished")
        } catch (e: CancellationException) {
            outcome.set("cancelled")
            throw e
        } catch (e: Throwable) {
            outcome.set("threw $e")
        }
    }
    delay(CANCEL_AFTER_MS)
    expect(job.isActive) { "$what ended before the cancel: ${outcome.get()}" }
    val start = System.nanoTime()
    job.cancelAndJoin()
    val took = msSince(start)
    expect(job.isCancelled && outcome.get() == "cancelled") { "$what: ${outcome.get()}" }
    expect(took < CANCEL_BOUND_MS) { "$what: the cancelled coroutine ended only after $took ms" }
    return took
}

suspend fun cancellationChecks(wallet: Wallet) {
    val slow = System.getenv("OID4VCI_ISSUER_SLOW")?.trimEnd('/')
    val names = listOf(
        "cancel resolveOffer's coroutine (issuer answering in 3 s): ends within 1 s",
        "withTimeout(200 ms) around resolveOffer (issuer answering in 3 s): throws within 1 s",
        "cancel resolveOffer's coroutine with the app's HttpClient: ends within 1 s, the app's request runs on",
        "cancel authorize's coroutine (issuer answering in 3 s): ends within 1 s, the offer may be authorized again",
        "the slow issuer never handled a cancelled request of the built-in client",
        "after the cancellations the same wallet issues a credential (main issuer)",
        "cancel a deferred wait: its coroutine ends within 1 s, DeferredCredential.cancel() within 1 s",
    )
    if (slow == null) {
        names.forEach { skip(it, "OID4VCI_ISSUER_SLOW not set") }
        return
    }
    val offerUrl = offerByValue(slow)
    coroutineScope {
        // authorize needs a resolved offer: resolving one at the slow issuer
        // takes a few of its 3 s answers, so it runs while the first checks do,
        // through an HttpClient that counts what the issuer must have seen.
        val resolverClient = RecordingHttpClient()
        val resolving = async {
            runCatching { Wallet.withHttpClient(config(), resolverClient).resolveOffer(offerUrl) }
        }
        val appClient = RecordingHttpClient()

        check(names[0]) {
            val took = cancelCoroutine(this@coroutineScope, "resolveOffer") { wallet.resolveOffer(offerUrl) }
            println("      (ended $took ms after the cancel)")
        }

        check(names[1]) {
            val start = System.nanoTime()
            expectThrows<TimeoutCancellationException> {
                withTimeout(CANCEL_AFTER_MS) { wallet.resolveOffer(offerUrl) }
            }
            val took = msSince(start)
            expect(took < CANCEL_AFTER_MS + CANCEL_BOUND_MS) { "withTimeout ended after $took ms" }
            println("      (threw $took ms after the start)")
        }

        check(names[2]) {
            val appWallet = Wallet.withHttpClient(config(), appClient)
            val took = cancelCoroutine(this@coroutineScope, "resolveOffer (app's HttpClient)") {
                appWallet.resolveOffer(offerUrl)
            }
            // The coroutine is gone; the app's blocking send is not: UniFFI
            // cannot interrupt it, so it returns when the issuer answers.
            expect(appClient.started.get() == 1 && appClient.finished.get() == 0) {
                "app's client: ${appClient.started.get()} sends started, ${appClient.finished.get()} returned"
            }
            val cancelled = System.nanoTime()
            while (appClient.finished.get() == 0 && msSince(cancelled) < 10_000) delay(20)
            val ranOn = msSince(cancelled)
            expect(appClient.finished.get() == 1) { "the app's send had not returned $ranOn ms after the cancel" }
            expect(ranOn > 1000) { "the app's send returned $ranOn ms after the cancel: it was interrupted?" }
            delay(200)
            expect(appClient.started.get() == 1) { "the cancelled call sent ${appClient.started.get()} requests" }
            println("      (ended $took ms after the cancel; the app's request ran on for $ranOn ms more)")
        }

        check(names[3]) {
            val offer: ResolvedOffer = resolving.await().getOrElse {
                throw CheckFailed("resolving the slow issuer's offer: $it")
            }
            val took = cancelCoroutine(this@coroutineScope, "authorize") { offer.authorize(wallet, null) }
            // Not marked as authorized: a second try goes out again (and is
            // given up on again) instead of failing with InvalidState.
            expectThrows<TimeoutCancellationException> {
                withTimeout(CANCEL_AFTER_MS) { offer.authorize(wallet, null) }
            }
            println("      (ended $took ms after the cancel)")
        }

        if (APP_HTTP) skip(names[4], "no built-in HTTP client in this build (an app's blocking send runs on, as the check with the app's HttpClient shows)")
        else check(names[4]) {
            // Sent after every cancelled request, answered 3 s later: by then
            // the issuer had handled each of them that was not abandoned.
            delay(200)
            val stats = issuerStats(slow)
            val seen = stats.values.sum()
            val sent = resolverClient.finished.get() + appClient.finished.get()
            expect(stats["/token"] == null) { "the issuer handled a cancelled token request: $stats" }
            expect(seen == sent) {
                "the issuer handled $seen requests, the app's clients sent $sent (every cancelled request of " +
                    "the built-in client must be missing): $stats"
            }
        }

        check(names[5]) {
            val offer = createOffer(txCode = true)
            val session = wallet.resolveOffer(offer.url).authorize(wallet, offer.txCode)
            val signer = KotlinSigner()
            expectPid(issued(session.requestCredential(wallet, "pid_sd_jwt", signer)), signer)
        }

        check(names[6]) {
            val offer = createOffer(deferred = true)
            val signer = KotlinSigner()
            val session = wallet.resolveOffer(offer.url).authorize(wallet, null)
            val pending = deferred(session.requestCredential(wallet, "pid_sd_jwt", signer))
            // The coroutine: the Rust future is dropped; the object is untouched.
            val tookJob = cancelCoroutine(this@coroutineScope, "pollUntilReady") {
                pending.pollUntilReady(wallet, 30_000u)
            }
            // DeferredCredential.cancel(): the wait ends with Cancelled.
            val outcome = AtomicReference("still running")
            val job = launch {
                outcome.set(
                    try {
                        pending.pollUntilReady(wallet, 30_000u)
                        "finished"
                    } catch (e: WalletException.Cancelled) {
                        "Cancelled"
                    } catch (e: Throwable) {
                        "threw $e"
                    }
                )
            }
            delay(CANCEL_AFTER_MS)
            val start = System.nanoTime()
            pending.cancel()
            job.join()
            val tookToken = msSince(start)
            expect(outcome.get() == "Cancelled") { "pollUntilReady after cancel(): ${outcome.get()}" }
            expect(tookToken < CANCEL_BOUND_MS) { "pollUntilReady ended $tookToken ms after cancel()" }
            // cancel() is for good on this object: the next wait ends at once.
            val again = System.nanoTime()
            expectThrows<WalletException.Cancelled> { pending.pollUntilReady(wallet, 30_000u) }
            expect(msSince(again) < CANCEL_BOUND_MS) { "second wait took ${msSince(again)} ms" }
            // The transaction is not: restored from toJson() it is issued.
            val restored = DeferredCredential.fromJson(pending.toJson(), locales)
            expectPid(restored.pollUntilReady(wallet, 30_000u), signer)
            println("      (coroutine ended $tookJob ms after the cancel; cancel() ended the wait after $tookToken ms)")
        }
    }
}
