// The SDK's Kotlin bindings as an Android library module (package
// dev.oid4vci.wallet). Take this folder as it is: include it from the app's
// settings.gradle.kts (or copy it into the app's project), then depend on it
// with `implementation(project(":oid4vci-wallet"))`.
//
//   src/main/kotlin/   the UniFFI-generated bindings, written by bindings/generate
//                      (do not edit them: bindings/generate --check fails when they
//                      differ from a fresh generation; bindings/test-kotlin compiles them)
//   src/main/jniLibs/  <abi>/liboid4vci_wallet.so, built with cargo-ndk (see its README.md)
//   consumer-rules.pro the R8/ProGuard keeps for JNA and the bindings, applied to the app
//
// The plugins' versions come from the app's build (its root build.gradle.kts or
// version catalog), as for any module of a multi-module project.
plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "dev.oid4vci.wallet"
    compileSdk = 35

    defaultConfig {
        minSdk = 24
        // JNA and the bindings are reached by reflection: the app's R8 keeps them.
        consumerProguardFiles("consumer-rules.pro")
    }

    buildTypes {
        release {
            // A library is shrunk by the app that uses it (with consumer-rules.pro).
            isMinifyEnabled = false
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"), "proguard-rules.pro")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    sourceSets {
        getByName("main") {
            // The Kotlin plugin reads src/main/kotlin too; named here so that any setup finds it.
            java.srcDir("src/main/kotlin")
        }
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(org.jetbrains.kotlin.gradle.dsl.JvmTarget.JVM_17)
    }
}

dependencies {
    // The generated code calls the native library through JNA (com.sun.jna.Native,
    // Structure, Callback, com.sun.jna.internal.Cleaner); the @aar ships
    // libjnidispatch.so for every Android ABI. bindings/test-kotlin compiles the
    // sources against JNA 5.13 (Debian's libjna-java); any 5.13+ works.
    api("net.java.dev.jna:jna:5.17.0@aar")
    // Its suspend functions complete through kotlinx.coroutines
    // (suspendCancellableCoroutine, GlobalScope.launch); compiled in CI against 1.8.
    api("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.10.2")
}
